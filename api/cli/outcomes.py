"""``sme-export outcomes import|template|worklist|evaluate``: export follow-ups read from an
office's file, the file to fill in, the SMEs due a follow-up, and whether the score was
right (every figure with its 95% interval, or counts only while outcomes are too few).

``import`` stores every valid row even when others are rejected, and then exits with
``EXIT_REJECTED_ROWS`` after naming each rejected row by its row number in the file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from api.cli.common import (
    EXIT_REJECTED_ROWS,
    database_url_option,
    echo_json,
    echo_table,
    fail,
    json_option,
    one_line,
    session,
)
from api.cli.messages import LANGUAGES
from scoring.contract.fields import SECTORS
from scoring.contract.outcomes import SUPPORT_KINDS
from scoring.errors import ScoringError

#: Rows one outcome file may hold.
MAX_ROWS = 100_000

TEXTS = {
    "en": {
        "imported": "received {received}, stored {stored}, already recorded {repeated}, "
        "rejected {rejected}",
        "skipped": "skipped {count} non-data rows: {rows}",
        "kept": "the {stored} valid row(s) were stored; fix the {rejected} rejected row(s) "
        "and import the file again (rows already recorded are not stored twice)",
        "template": "template written to {path}",
        "no_due": "no follow-up is due",
        "due": "{count} follow-up(s) due",
        "worklist": (
            "sme_id",
            "name",
            "decided on",
            "kind",
            "months",
            "due on",
            "overdue",
            "last follow-up",
        ),
        "days": "{days} d",
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
        "imported": "diterima {received}, disimpan {stored}, sudah tercatat {repeated}, "
        "ditolak {rejected}",
        "skipped": "{count} baris bukan data dilewati: {rows}",
        "kept": "{stored} baris yang sah sudah disimpan; perbaiki {rejected} baris yang "
        "ditolak lalu impor berkas itu lagi (baris yang sudah tercatat tidak disimpan dua kali)",
        "template": "templat ditulis ke {path}",
        "no_due": "tidak ada tindak lanjut yang jatuh tempo",
        "due": "{count} tindak lanjut jatuh tempo",
        "worklist": (
            "sme_id",
            "nama",
            "tanggal keputusan",
            "jenis",
            "bulan",
            "jatuh tempo",
            "terlambat",
            "tindak lanjut terakhir",
        ),
        "days": "{days} hr",
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

lang_option = click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="Language of the messages and the report.",
)


@click.group()
def outcomes() -> None:
    """Export follow-ups: import them from a file, the file's template, the follow-ups due,
    and the evaluation of the score against what SMEs did."""


# --- import and template ------------------------------------------------------------------


@outcomes.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default="cli", show_default=True, help="Who records them (audit log).")
@click.option("--max-rows", type=click.IntRange(min=1), default=MAX_ROWS, show_default=True)
@lang_option
@json_option
@database_url_option
def outcomes_import(file, actor, max_rows, lang, as_json, database_url):
    """Store the follow-ups of FILE (CSV, XLSX, Parquet or JSON; see `outcomes template`).

    Valid rows are stored even when others are rejected; each rejected row is named with
    its row number, and the exit code is then 3.
    """
    from api.services.ingest import TooManyRows
    from api.services.outcome_files import error_lines

    words = TEXTS[lang]
    with session(database_url) as db_session:
        try:
            with file.open("rb") as stream:
                result = _import(db_session, stream, file.name, actor, max_rows)
        except (ScoringError, TooManyRows, OSError) as exc:
            fail(f"{file}: {one_line(exc)}", lang=lang)
    if as_json:
        echo_json(result)
    else:
        click.echo(
            words["imported"].format(
                received=result["received"],
                stored=result["stored"],
                repeated=result["already_recorded"],
                rejected=result["rejected"],
            )
        )
    if result["skipped"]:
        rows = ", ".join(str(s["row"]) for s in result["skipped"])
        click.echo(words["skipped"].format(count=len(result["skipped"]), rows=rows), err=True)
    if not result["rejected"]:
        return
    for line in error_lines(_in_language(result["errors"], lang)):
        click.echo(line, err=True)
    click.echo(
        words["kept"].format(
            stored=result["stored"] + result["already_recorded"], rejected=result["rejected"]
        ),
        err=True,
    )
    raise SystemExit(EXIT_REJECTED_ROWS)


def _import(db_session, stream, filename: str, actor: str, max_rows: int) -> dict:
    from api.services.outcome_files import import_outcomes

    return import_outcomes(
        db_session,
        stream,
        filename=filename,
        actor=actor,
        today=dt.date.today(),
        max_rows=max_rows,
    )


def _in_language(errors: list[dict], lang: str) -> list[dict]:
    """The rejected rows' messages in ``lang`` where the staff pages have them."""
    if lang == "en":
        return errors
    from api.web.i18n import contract_message, shipped_catalogue

    catalogue = shipped_catalogue(lang)
    return [
        {
            **error,
            "errors": [
                {**item, "message": contract_message(item["message"], catalogue)}
                for item in error["errors"]
            ],
        }
        for error in errors
    ]


@outcomes.command("template")
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default="id",
    show_default=True,
    help="Language of the drop-downs and the instructions sheet (XLSX).",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["csv", "xlsx"]),
    help="The file's format [default: from --out's extension].",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Write here."
)
def outcomes_template(lang, file_format, out):
    """Write the follow-up file offices fill in (one row per follow-up of one SME)."""
    from api.services.outcome_files import outcome_template

    suffix = out.suffix.lower().lstrip(".")
    file_format = file_format or (suffix if suffix in ("csv", "xlsx") else None)
    if file_format is None:
        raise click.UsageError("give --format csv|xlsx or an --out ending in .csv or .xlsx")
    try:
        out.write_bytes(outcome_template(lang=lang, format=file_format))
    except OSError as exc:
        fail(f"{out}: {one_line(exc)}", lang=lang)
    click.echo(TEXTS[lang]["template"].format(path=out))


# --- worklist -----------------------------------------------------------------------------


@outcomes.command("worklist")
@lang_option
@json_option
@database_url_option
def outcomes_worklist(lang, as_json, database_url):
    """Supported SMEs due a follow-up (3, 6 or 12 months after the decision, with no
    follow-up since), most overdue first."""
    from api import store

    with session(database_url) as db_session:
        due = store.followup_worklist(db_session, today=dt.date.today())
    if as_json:
        echo_json(due)
        return
    words = TEXTS[lang]
    if not due:
        click.echo(words["no_due"])
        return
    echo_table(
        words["worklist"],
        [
            (
                item["sme_id"],
                item["name"] or "-",
                item["decided_on"],
                item["support_kind"] or "-",
                str(item["months"]),
                item["due_on"],
                words["days"].format(days=item["days_overdue"]),
                item["last_followup_date"] or "-",
            )
            for item in due
        ],
    )
    click.echo(words["due"].format(count=len(due)), err=True)


# --- evaluation ---------------------------------------------------------------------------


@outcomes.command("evaluate")
@click.option("--cohort", help="Only decisions of this cohort (or about its SMEs).")
@click.option("--sector", type=click.Choice(SECTORS), help="Only SMEs of this sector.")
@click.option("--support-kind", type=click.Choice(SUPPORT_KINDS), help="Only this support.")
@click.option(
    "--from", "decided_from", type=click.DateTime(["%Y-%m-%d"]), help="Decided on or after."
)
@click.option(
    "--until", "decided_until", type=click.DateTime(["%Y-%m-%d"]), help="Decided on or before."
)
@click.option(
    "--decision",
    type=click.Choice(["support", "no_support", "all"]),
    default="support",
    show_default=True,
    help="Which decisions the figures are about.",
)
@lang_option
@json_option
@database_url_option
def outcomes_evaluate(
    cohort, sector, support_kind, decided_from, decided_until, decision, lang, as_json, database_url
):
    """Was the score right? Export rates by tier and score band, discrimination and
    calibration, and supported against not supported SMEs, each with its 95% interval;
    below 30 known outcomes only the counts."""
    from api import store
    from api.services.outcomes import evaluation
    from scoring.rules.loading import load_ruleset

    if decided_from and decided_until and decided_from > decided_until:
        raise click.UsageError("--from is after --until")
    try:
        ruleset = load_ruleset()
    except ScoringError as exc:
        fail(one_line(exc), lang=lang)
    where = store.DecisionFilter(
        cohort=cohort,
        sector=sector,
        support_kind=support_kind,
        decided_from=decided_from.date() if decided_from else None,
        decided_until=decided_until.date() if decided_until else None,
    )
    with session(database_url) as db_session:
        report = evaluation(
            db_session,
            where,
            tiers=[tier.id for tier in ruleset.tiers],
            decision=None if decision == "all" else decision,
        )
    if as_json:
        echo_json(report)
        return
    names = {tier.id: tier.label[lang] for tier in ruleset.tiers}
    for line in report_lines(report, lang=lang, tier_names=names):
        click.echo(line)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


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


def _auc(value: dict | None, words: dict) -> str:
    if value is None:
        return words["auc_none"]
    return f"{value['auc']:.3f} [{value['ci_low']:.3f}, {value['ci_high']:.3f}]"


def report_lines(report: dict, *, lang: str, tier_names: dict[str, str]) -> list[str]:
    """The evaluation as readable lines in ``lang``: counts, then every figure with its
    interval, or the "too few outcomes to judge" message."""
    words = TEXTS[lang]
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
    if not report["enough"]:
        chosen = report["counts"]["all"]
        lines.append(
            words["too_few"].format(
                known=chosen["known"], minimum=report["minimum_known"], censored=chosen["censored"]
            )
        )
        return lines
    lines.append(words["by_tier"])
    lines += [_rate_line(words, tier_names.get(r["tier"], r["tier"]), r) for r in report["by_tier"]]
    lines.append(words["by_band"])
    lines += [_rate_line(words, r["band"], r) for r in report["by_score_band"]]
    found = report["discrimination"]
    lines.append(
        words["auc"].format(
            score=_auc(found["score"], words), model=_auc(found["ml_probability"], words)
        )
    )
    calibration = report["calibration"]
    lines.append(
        words["calibration"].format(
            brier=f"{calibration['brier']:.4f}",
            base=_percent(calibration["base_rate"]),
            mean=_percent(calibration["mean_predicted"]),
        )
    )
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
    lines.append(words["comparison"])
    for band in report["supported_vs_not"]["bands"]:
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
    lines.append(words["note"])
    return lines
