"""The text report of ``sme-export outcomes evaluate``: the counts, then every figure with
its interval (export rates by tier and score band, discrimination, calibration, supported
against not supported SMEs), or the "too few outcomes to judge" message; in English or
Bahasa Indonesia. ``--json`` prints the evaluation itself instead.
"""

from __future__ import annotations

REPORT_TEXTS = {
    "en": {
        "title": "Evaluation of {which}",
        "which.support": "the decisions to support",
        "which.no_support": "the decisions not to support",
        "which.all": "all decisions",
        "filters": "filters: {filters}",
        "counts": "{group}: {decisions} decision(s), outcome known for {known} ({exported} "
        "exported, {not_exported} not), {censored} not known yet",
        "group.all": "chosen",
        "group.supported": "supported",
        "group.not_supported": "not supported",
        "too_few": "too few outcomes to judge: {known} known outcome(s), at least {minimum} "
        "needed; {censored} decision(s) still without a known outcome",
        "by_tier": "Export rate within 12 months by tier (95% Wilson interval):",
        "by_band": "Export rate by score band:",
        "rate": "{name}: {exported} of {n} exported, {rate} [{low}, {high}]",
        "empty": "{name}: no decisions",
        "auc": "Discrimination (ROC AUC, 95% bootstrap interval): score {score}; model "
        "probability {model}",
        "auc_none": "not computable (only one outcome occurs)",
        "calibration": "Calibration of the model probability: Brier {brier}, observed rate "
        "{base}, mean predicted {mean}",
        "calibration_band": "{name}: mean predicted {mean}, observed {rate} [{low}, {high}], "
        "{n} decision(s)",
        "comparison": "Supported against not supported SMEs of the same score band "
        "(difference in export rate, 95% Newcombe interval):",
        "difference": "{name}: supported {yes}, not supported {no}, difference {diff} "
        "[{low}, {high}] points",
        "no_difference": "{name}: supported {yes}, not supported {no}, no comparison",
        "note": "note: an association, not the effect of support: the office chose whom to "
        "support, and what made it choose may also make an SME export.",
    },
    "id": {
        "title": "Evaluasi {which}",
        "which.support": "keputusan untuk mendukung",
        "which.no_support": "keputusan untuk tidak mendukung",
        "which.all": "semua keputusan",
        "filters": "saringan: {filters}",
        "counts": "{group}: {decisions} keputusan, hasil diketahui untuk {known} ({exported} "
        "ekspor, {not_exported} tidak), {censored} belum diketahui",
        "group.all": "yang dipilih",
        "group.supported": "didukung",
        "group.not_supported": "tidak didukung",
        "too_few": "hasil terlalu sedikit untuk dinilai: {known} hasil diketahui, paling "
        "sedikit {minimum} diperlukan; {censored} keputusan belum diketahui hasilnya",
        "by_tier": "Tingkat ekspor dalam 12 bulan per tingkat (selang Wilson 95%):",
        "by_band": "Tingkat ekspor per rentang skor:",
        "rate": "{name}: {exported} dari {n} ekspor, {rate} [{low}, {high}]",
        "empty": "{name}: tidak ada keputusan",
        "auc": "Daya pembeda (ROC AUC, selang bootstrap 95%): skor {score}; probabilitas "
        "model {model}",
        "auc_none": "tidak dapat dihitung (hanya satu hasil yang muncul)",
        "calibration": "Kalibrasi probabilitas model: Brier {brier}, tingkat teramati "
        "{base}, rata-rata prediksi {mean}",
        "calibration_band": "{name}: rata-rata prediksi {mean}, teramati {rate} [{low}, "
        "{high}], {n} keputusan",
        "comparison": "UKM yang didukung dibanding yang tidak, pada rentang skor yang sama "
        "(selisih tingkat ekspor, selang Newcombe 95%):",
        "difference": "{name}: didukung {yes}, tidak didukung {no}, selisih {diff} "
        "[{low}, {high}] poin",
        "no_difference": "{name}: didukung {yes}, tidak didukung {no}, tidak dapat dibanding",
        "note": "catatan: ini keterkaitan, bukan dampak dukungan: dinas memilih siapa yang "
        "didukung, dan alasan memilih itu bisa juga membuat UKM mengekspor.",
    },
}


def report_lines(report: dict, *, lang: str, tier_names: dict[str, str]) -> list[str]:
    """The evaluation as readable lines in ``lang``: counts, then every figure with its
    interval, or the "too few outcomes to judge" message."""
    words = REPORT_TEXTS[lang]
    lines = _heading_lines(report, words)
    if not report["enough"]:
        chosen = report["counts"]["all"]
        lines.append(
            words["too_few"].format(
                known=chosen["known"], minimum=report["minimum_known"], censored=chosen["censored"]
            )
        )
        return lines
    return [
        *lines,
        *_rate_lines(report, words, tier_names),
        _discrimination_line(report["discrimination"], words),
        *_calibration_lines(report["calibration"], words),
        *_comparison_lines(report["supported_vs_not"], words),
        words["note"],
    ]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _heading_lines(report: dict, words: dict) -> list[str]:
    """What is evaluated, the filters if any, and the counts of each group."""
    which = report["decision"] or "all"
    lines = [words["title"].format(which=words[f"which.{which}"])]
    filters = {k: v for k, v in (report.get("filters") or {}).items() if v}
    if filters:
        lines.append(
            words["filters"].format(filters=", ".join(f"{k}={v}" for k, v in filters.items()))
        )
    for group in ("all", "supported", "not_supported"):
        lines.append(
            words["counts"].format(group=words[f"group.{group}"], **report["counts"][group])
        )
    return lines


def _rate_line(words: dict, name: str, rate: dict) -> str:
    if not rate["n"]:
        return "  " + words["empty"].format(name=name)
    return "  " + words["rate"].format(
        name=name,
        exported=rate["exported"],
        n=rate["n"],
        rate=_percent(rate["rate"]),
        low=_percent(rate["ci_low"]),
        high=_percent(rate["ci_high"]),
    )


def _rate_lines(report: dict, words: dict, tier_names: dict[str, str]) -> list[str]:
    """The export rates by tier, then by score band."""
    lines = [words["by_tier"]]
    lines += [_rate_line(words, tier_names.get(r["tier"], r["tier"]), r) for r in report["by_tier"]]
    lines.append(words["by_band"])
    lines += [_rate_line(words, r["band"], r) for r in report["by_score_band"]]
    return lines


def _auc(value: dict | None, words: dict) -> str:
    if value is None:
        return words["auc_none"]
    return f"{value['auc']:.3f} [{value['ci_low']:.3f}, {value['ci_high']:.3f}]"


def _discrimination_line(found: dict, words: dict) -> str:
    """The ROC AUC of the score and of the model probability."""
    return words["auc"].format(
        score=_auc(found["score"], words), model=_auc(found["ml_probability"], words)
    )


def _calibration_lines(calibration: dict, words: dict) -> list[str]:
    """The model probability's Brier score and rates, then each band's."""
    lines = [
        words["calibration"].format(
            brier=f"{calibration['brier']:.4f}",
            base=_percent(calibration["base_rate"]),
            mean=_percent(calibration["mean_predicted"]),
        )
    ]
    for band in calibration["bands"]:
        if not band["n"]:
            lines.append("  " + words["empty"].format(name=band["band"]))
            continue
        lines.append(
            "  "
            + words["calibration_band"].format(
                name=band["band"],
                mean=_percent(band["mean_predicted"]),
                rate=_percent(band["rate"]),
                low=_percent(band["ci_low"]),
                high=_percent(band["ci_high"]),
                n=band["n"],
            )
        )
    return lines


def _comparison_lines(supported_vs_not: dict, words: dict) -> list[str]:
    """Supported against not supported SMEs, band by band."""
    lines = [words["comparison"]]
    for band in supported_vs_not["bands"]:
        yes, no = band["supported"], band["not_supported"]
        shown = {
            "name": band["band"],
            "yes": f"{yes['exported']}/{yes['n']}",
            "no": f"{no['exported']}/{no['n']}",
        }
        if band["difference"] is None:
            lines.append("  " + words["no_difference"].format(**shown))
            continue
        lines.append(
            "  "
            + words["difference"].format(
                **shown,
                diff=f"{band['difference'] * 100:+.1f}",
                low=f"{band['ci_low'] * 100:+.1f}",
                high=f"{band['ci_high'] * 100:+.1f}",
            )
        )
    return lines
