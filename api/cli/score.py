"""The ``sme-export`` command line.

Exit codes: 0 success; 1 the input or an artifact is unusable (one-line reason
on stderr); 2 wrong usage; 3 a file was scored but some rows were rejected
(the rejected rows are reported, never dropped silently).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd
from tqdm import tqdm

from scoring.errors import ScoringError

EXIT_INPUT = 1
EXIT_REJECTED_ROWS = 3
TABLE_FORMATS = ("csv", "xlsx", "parquet", "jsonl", "json")
LANGUAGES = ("en", "id")

#: The command line's own words in English and Bahasa Indonesia (``--lang``); criterion and
#: tier names come from the ruleset, which carries both languages.
MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "error": "error: {message}",
        "field_errors": "{file}: {count} field error(s): {details}",
        "out_format": "--out must end in one of {formats}",
        "rejected_row": "rejected row {row}{who}: {details}",
        "more_rejected": "... and {count} more rejected rows",
        "rejected_written": "rejected rows written to {path}",
        "skipped": "skipped {count} non-data rows: {rows}",
        "summary": "received {received}, scored {scored}, rejected {rejected}",
        "table_written": "ranked table written to {path}",
        "no_profiles": "no profiles scored",
        "tiers": "tiers: ",
        "progress": "scoring",
        "rows": " rows",
        "col.rank": "#",
        "col.sme_id": "sme_id",
        "col.name": "name",
        "col.sector": "sector",
        "col.score": "score",
        "col.tier": "tier",
        "col.next_step": "next step",
        "col.knockouts": "knock-out",
    },
    "id": {
        "error": "galat: {message}",
        "field_errors": "{file}: {count} isian salah: {details}",
        "out_format": "--out harus berakhiran salah satu dari {formats}",
        "rejected_row": "baris {row}{who} ditolak: {details}",
        "more_rejected": "... dan {count} baris lain ditolak",
        "rejected_written": "baris yang ditolak ditulis ke {path}",
        "skipped": "{count} baris bukan data dilewati: {rows}",
        "summary": "diterima {received}, dinilai {scored}, ditolak {rejected}",
        "table_written": "tabel peringkat ditulis ke {path}",
        "no_profiles": "tidak ada profil yang dinilai",
        "tiers": "tingkat: ",
        "progress": "menilai",
        "rows": " baris",
        "col.rank": "#",
        "col.sme_id": "sme_id",
        "col.name": "nama",
        "col.sector": "sektor",
        "col.score": "skor",
        "col.tier": "tingkat",
        "col.next_step": "langkah berikutnya",
        "col.knockouts": "gugur",
    },
}
#: The columns of the ranked table (``--table``), in order.
RANKED_COLUMNS = ("rank", "sme_id", "name", "sector", "score", "tier", "next_step", "knockouts")


def _text(lang: str, key: str, **params) -> str:
    return MESSAGES[lang][key].format(**params)


def _fail(message: str, *, lang: str = "en") -> None:
    click.echo(_text(lang, "error", message=message), err=True)
    sys.exit(EXIT_INPUT)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Score SMEs' export readiness: export-standard rules blended with a calibrated model."""


# --- score ---------------------------------------------------------------------------


def _load_scorer(models_dir: Path | None, ruleset: Path | None, *, lang: str = "en"):
    """The active model and, unless ``ruleset`` names a file, the active ruleset version."""
    from scoring.engine import Scorer
    from scoring.rules.registry import active_path, default_rulesets_dir

    try:
        if ruleset is None:
            ruleset = active_path(default_rulesets_dir())
        return Scorer.load(models_dir=models_dir, ruleset_path=ruleset)
    except ScoringError as exc:
        _fail(_one_line(exc), lang=lang)


def _is_single_profile(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def _row_error_line(error, *, lang: str = "en") -> str:
    """``rejected row 4 (BDG-2020-003): employees: ...`` in the language asked for."""
    who = f" ({error.sme_id})" if error.sme_id else ""
    return _text(lang, "rejected_row", row=error.row, who=who, details=_row_error_details(error))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write results here; the format follows the extension (.csv .xlsx .parquet .json .jsonl).",
)
@click.option(
    "--table",
    is_flag=True,
    help="A ranked table instead of JSON: printed, or with --out written in its format.",
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="Language of the messages, the table and the labels in the results.",
)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--ruleset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--chunk-rows", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def score(file, out, table, lang, models_dir, ruleset, chunk_rows, quiet):
    """Score one JSON profile, or every row of a CSV, XLSX, Parquet or JSON file."""
    from scoring.errors import ProfileValidationError

    scorer = _load_scorer(models_dir, ruleset, lang=lang)
    if _is_single_profile(file):
        try:
            data = json.loads(file.read_text(encoding="utf-8-sig"))
            record = scorer.score_profile(data, lang=lang)
        except ProfileValidationError as exc:
            details = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
            _fail(
                _text(lang, "field_errors", file=file, count=len(exc.errors), details=details),
                lang=lang,
            )
        except (ValueError, ScoringError) as exc:
            _fail(f"{file}: {_one_line(exc)}", lang=lang)
        _emit_records([record], out=out, lang=lang)
        return
    _score_table(
        file,
        scorer=scorer,
        out=out,
        table=table,
        lang=lang,
        chunk_rows=chunk_rows,
        quiet=quiet,
    )


def _emit_records(records: list[dict], *, out: Path | None, lang: str) -> None:
    text = json.dumps(records[0] if len(records) == 1 else records, ensure_ascii=False, indent=2)
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


class _ResultSink:
    """Where scored chunks go: a file written beside ``out`` and renamed into place only when
    every chunk is written (a failed run never leaves a complete-looking file), or memory."""

    def __init__(self, out: Path | None, *, lang: str):
        self.out = out
        self.lang = lang
        self.format = _out_format(out, lang=lang)
        self.records: list[dict] = []
        self.partial = None if out is None else out.with_name(out.name + ".part")
        self._writer = None
        self._lines = None
        if self.format == "jsonl":
            self._lines = self.partial.open("w", encoding="utf-8")
        elif self.format in ("csv", "xlsx", "parquet"):
            from scoring.files.writers import TableWriter

            self._writer = TableWriter(self.partial, format=self.format)

    def write(self, result, row_numbers: np.ndarray) -> None:
        if self._writer is not None:
            flat = result.to_frame()
            flat.insert(0, "row", row_numbers)
            self._writer.write(flat)
            return
        records = result.to_records(lang=self.lang)
        for record, row in zip(records, row_numbers, strict=True):
            record["row"] = int(row)
        if self._lines is not None:
            self._lines.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        else:
            self.records.extend(records)

    def finish(self, summary: dict, errors: list) -> None:
        if self._writer is not None:
            self._writer.close()
        elif self._lines is not None:
            self._lines.close()
        else:
            document = {**summary, "results": self.records, "errors": [e.to_dict() for e in errors]}
            text = json.dumps(document, ensure_ascii=False, indent=2)
            if self.out is None:
                click.echo(text)
                return
            self.partial.write_text(text + "\n", encoding="utf-8")
        self.partial.replace(self.out)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        if self._lines is not None:
            self._lines.close()
        if self.partial is not None:
            self.partial.unlink(missing_ok=True)


def _out_format(out: Path | None, *, lang: str) -> str | None:
    """The table format ``out``'s extension names (None for no file); refuses any other."""
    if out is None:
        return None
    format = out.suffix.lower().lstrip(".")
    if format not in TABLE_FORMATS:
        formats = ", ".join("." + f for f in TABLE_FORMATS)
        _fail(_text(lang, "out_format", formats=formats), lang=lang)
    return format


def _row_error_details(error) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in error.errors)


def _score_table(file, *, scorer, out, table, lang, chunk_rows, quiet) -> None:
    from scoring.contract.validate import validate_table
    from scoring.files.readers import iter_tables

    received = scored = 0
    errors = []
    skipped: list[int] = []
    ranked: list[pd.DataFrame] = []
    sink = None if table else _ResultSink(out, lang=lang)
    table_format = _out_format(out, lang=lang) if table else None
    progress = tqdm(
        unit=_text(lang, "rows"),
        disable=quiet or not sys.stderr.isatty(),
        file=sys.stderr,
        desc=_text(lang, "progress"),
    )
    try:
        for raw in iter_tables(file, chunk_rows=chunk_rows):
            batch = validate_table(raw)
            received += batch.received
            errors.extend(batch.errors)
            skipped.extend(row.row for row in batch.skipped)
            if len(batch.profiles):
                result = scorer.score(batch.profiles, assumed=batch.assumed)
                scored += len(result)
                if sink is not None:
                    sink.write(result, batch.row_numbers)
                else:
                    flat = result.to_frame()
                    flat.insert(1, "name", batch.profiles["name"].to_numpy())
                    flat.insert(2, "sector", batch.profiles["sector"].to_numpy())
                    ranked.append(flat)
            progress.update(batch.received)
            progress.set_postfix(rejected=len(errors))
        progress.close()
        summary = {"received": received, "scored": scored, "rejected": len(errors)}
        if sink is not None:
            sink.finish(summary, errors)
    except (ScoringError, OSError) as exc:
        progress.close()
        if sink is not None:
            sink.abort()
        _fail(_one_line(exc), lang=lang)
    if table:
        frame = _ranked(pd.concat(ranked, ignore_index=True) if ranked else None, scorer, lang)
        if out is None:
            tiers = [tier.label[lang] for tier in scorer.ruleset.tiers]
            _print_ranked(frame, lang, tier_width=max(map(len, tiers)))
        else:
            _write_ranked(frame, out, format=table_format, lang=lang)
    if errors:
        if out is not None and (table or sink.format != "json"):
            side = out.with_name(out.stem + ".rejected.csv")
            pd.DataFrame(
                {
                    "row": [e.row for e in errors],
                    "sme_id": [e.sme_id for e in errors],
                    "errors": [_row_error_details(e) for e in errors],
                }
            ).to_csv(side, index=False)
            click.echo(_text(lang, "rejected_written", path=side), err=True)
        for error in errors[:20]:
            click.echo(_row_error_line(error, lang=lang), err=True)
        if len(errors) > 20:
            click.echo(_text(lang, "more_rejected", count=len(errors) - 20), err=True)
    if skipped:  # totals, notes and signatures of an office spreadsheet: not profiles
        rows = ", ".join(map(str, skipped))
        click.echo(_text(lang, "skipped", count=len(skipped), rows=rows), err=True)
    summary_line = _text(lang, "summary", received=received, scored=scored, rejected=len(errors))
    click.echo(summary_line, err=True)
    if errors:
        sys.exit(EXIT_REJECTED_ROWS)


def _ranked(frame: pd.DataFrame | None, scorer, lang: str) -> pd.DataFrame:
    """The ranked table: best score first, tiers named in ``lang`` by the ruleset."""
    if frame is None or frame.empty:
        return pd.DataFrame(columns=list(RANKED_COLUMNS))
    frame = frame.sort_values(["score", "sme_id"], ascending=[False, True], kind="stable")
    tiers = {tier.id: tier.label[lang] for tier in scorer.ruleset.tiers}
    return pd.DataFrame(
        {
            "rank": range(1, len(frame) + 1),
            "sme_id": frame["sme_id"].to_numpy(),
            "name": frame["name"].to_numpy(),
            "sector": frame["sector"].to_numpy(),
            "score": frame["score"].to_numpy(),
            "tier": frame["tier"].map(tiers).fillna(frame["tier"]).to_numpy(),
            "next_step": [a.split(";")[0] if a else "" for a in frame["top_actions"]],
            "knockouts": frame["knockouts"].to_numpy(),
        }
    )


def _print_ranked(frame: pd.DataFrame, lang: str, *, tier_width: int) -> None:
    if frame.empty:
        click.echo(_text(lang, "no_profiles"))
        return
    col = {name: _text(lang, f"col.{name}") for name in RANKED_COLUMNS}
    tier_width = max(tier_width, len(col["tier"]))
    header = (
        f"{col['rank']:>3}  {col['sme_id']:<14} {col['name']:<30} {col['sector']:<20} "
        f"{col['score']:>5}  {col['tier']:<{tier_width}} {col['next_step']}"
    )
    click.echo(header)
    click.echo("-" * len(header))
    for row in frame.itertuples(index=False):
        knocked = f"  [{col['knockouts']}: {row.knockouts}]" if row.knockouts else ""
        click.echo(
            f"{row.rank:>3}  {row.sme_id:<14} {str(row.name)[:30]:<30} {row.sector:<20} "
            f"{row.score:>5.1f}  {row.tier:<{tier_width}} {row.next_step}{knocked}"
        )
    tiers = frame["tier"].value_counts()
    click.echo("")
    click.echo(_text(lang, "tiers") + ", ".join(f"{tier} {count}" for tier, count in tiers.items()))


def _write_ranked(frame: pd.DataFrame, out: Path, *, format: str, lang: str) -> None:
    """The ranked table into ``out`` in ``format``, through a ``.part`` file renamed into place."""
    from scoring.files.writers import write_table

    partial = out.with_name(out.name + ".part")
    try:
        write_table(frame, partial, format=format)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        _fail(f"{out}: {exc.strerror or _one_line(exc)}", lang=lang)
    click.echo(_text(lang, "table_written", path=out), err=True)


# --- rescore -------------------------------------------------------------------------


@main.command()
@click.argument(
    "source", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Results file (.csv .parquet .jsonl; the dask engine writes a Parquet dataset "
    "folder); rejected rows go to <stem>.rejected.csv.",
)
@click.option(
    "--engine",
    type=click.Choice(["pandas", "dask"]),
    default="pandas",
    show_default=True,
    help="pandas: stream chunks on this machine; dask: Parquet or CSV in, Parquet out, on a "
    "Dask cluster.",
)
@click.option(
    "--scheduler",
    metavar="ADDR",
    help="Address of a running Dask scheduler (engine dask); default: a local cluster.",
)
@click.option("--chunk-rows", type=click.IntRange(min=1), default=25_000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Scoring processes (pandas; default: up to 2, one per core) or local Dask workers (2).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run: finished chunks (partitions) are not scored again.",
)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--ruleset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def rescore(
    source, out, engine, scheduler, chunk_rows, workers, resume, models_dir, ruleset, quiet
):
    """Score every row of a large file with bounded memory, resumably, or on a Dask cluster."""
    from concurrent.futures.process import BrokenProcessPool

    if engine == "pandas" and scheduler is not None:
        raise click.UsageError("--scheduler needs --engine dask")
    progress = not quiet and sys.stderr.isatty()
    try:
        if engine == "dask":
            from scoring.batch.dask_engine import DEFAULT_DASK_WORKERS, rescore_dask

            summary = rescore_dask(
                source,
                out,
                scheduler=scheduler,
                workers=workers or DEFAULT_DASK_WORKERS,
                resume=resume,
                models_dir=models_dir,
                ruleset_path=ruleset,
                progress=progress,
            )
        else:
            from scoring.batch.rescore import DEFAULT_WORKERS
            from scoring.batch.rescore import rescore as run

            summary = run(
                source,
                out,
                chunk_rows=chunk_rows,
                workers=workers or DEFAULT_WORKERS,
                resume=resume,
                models_dir=models_dir,
                ruleset_path=ruleset,
                progress=progress,
            )
    except ScoringError as exc:
        _fail(_one_line(exc))
    except OSError as exc:
        _fail(f"{exc.filename}: {exc.strerror}" if exc.filename else _one_line(exc))
    except BrokenProcessPool:
        _fail("a scoring process died (out of memory?); rerun with --resume to continue")
    except KeyboardInterrupt:
        click.echo("interrupted; rerun with --resume to continue", err=True)
        sys.exit(130)
    if summary.resumed_chunks:
        click.echo(f"resumed after {summary.resumed_chunks} finished chunks", err=True)
    for error in summary.first_errors:
        click.echo(_row_error_line(error), err=True)
    if summary.rejected > len(summary.first_errors):
        click.echo(f"... and {summary.rejected - len(summary.first_errors)} more", err=True)
    if summary.rejected_file is not None:
        click.echo(f"rejected rows written to {summary.rejected_file}", err=True)
    click.echo(
        f"received {summary.received}, scored {summary.scored}, rejected {summary.rejected}; "
        f"wrote {summary.out}",
        err=True,
    )
    if summary.rejected:
        sys.exit(EXIT_REJECTED_ROWS)


# --- train ---------------------------------------------------------------------------


@main.command()
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Profiles with the exported_within_12m column (CSV, XLSX, Parquet, JSON).",
)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--seed", type=int, default=None, help="Random seed (default: the shipped model's).")
@click.option(
    "--activate/--no-activate",
    default=False,
    help="Promote the new model (the promotion guard applies; see `models promote`).",
)
@click.option("--force", is_flag=True, help="With --activate: promote even if the guard refuses.")
@click.option("--reason", help="Why a forced promotion is right (goes into the audit log).")
@click.option(
    "--synthetic", is_flag=True, help="Record in the manifest that the data is synthetic."
)
@click.option(
    "--cv-folds", type=click.IntRange(min=2), default=None, help="Cross-validation folds (5)."
)
@click.option(
    "--cv-repeats", type=click.IntRange(min=1), default=None, help="Cross-validation repeats (5)."
)
def train(data_path, models_dir, seed, activate, force, reason, synthetic, cv_folds, cv_repeats):
    """Train a model version on labelled profiles, evaluate it, compare it with the active one
    on the same data, and register it under models/."""
    from threadpoolctl import threadpool_limits

    from scoring.contract.validate import validate_table
    from scoring.files.readers import read_table
    from scoring.model import evaluation
    from scoring.model.additive import default_models_dir, load_model, save_model
    from scoring.model.training import DEFAULT_SEED

    try:
        batch = validate_table(read_table(data_path), require_label=True)
    except ScoringError as exc:
        _fail(f"{data_path}: {_one_line(exc)}")
    if batch.errors:
        for error in batch.errors[:20]:
            click.echo(_row_error_line(error), err=True)
        _fail(
            f"{data_path}: {len(batch.errors)} of {batch.received} rows are invalid; "
            "fix them so that no labelled outcome is lost, then train again"
        )
    warnings = evaluation.data_warnings(batch.labels)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    seed = DEFAULT_SEED if seed is None else seed
    target_dir = models_dir or default_models_dir()
    try:
        active = load_model(target_dir)
    except ScoringError:
        active = None
    click.echo(f"training on {batch.scored} profiles ...", err=True)
    # Small data means many small fits, where OpenMP threads cost more than they give
    # (results are the same with any number of threads).
    small = len(batch.labels) <= evaluation.CV_MAX_ROWS
    try:
        with threadpool_limits(limits=1 if small else None, user_api="openmp"):
            trained, judged = _fit_and_judge(
                batch,
                seed=seed,
                data_path=data_path,
                synthetic=synthetic,
                active=active,
                folds=cv_folds or evaluation.CV_FOLDS,
                repeats=cv_repeats or evaluation.CV_REPEATS,
            )
    except ScoringError as exc:
        _fail(_one_line(exc))
    manifest = {**trained.manifest, **judged, "data_warnings": warnings}
    path = save_model(trained.bundle, manifest, target_dir, activate=False)
    manifest = json.loads((path / "manifest.json").read_text())
    model_m = manifest["metrics"]["model"]
    base_m = manifest["metrics"]["baseline_logistic"]
    click.echo(f"model {manifest['version']} written to {path}")
    click.echo(
        f"held-out ROC AUC {model_m['roc_auc']:.3f} (logistic baseline {base_m['roc_auc']:.3f}), "
        f"PR AUC {model_m['pr_auc']:.3f} ({base_m['pr_auc']:.3f}), "
        f"Brier {model_m['brier']:.4f} ({base_m['brier']:.4f})"
    )
    _echo_evaluation(manifest["evaluation"], manifest["comparison"])
    if not activate:
        click.echo("active: no (promote with `sme-export models promote VERSION`)")
        return
    if active is not None and active.version == manifest["version"]:
        click.echo("active: yes (the same model was already active)")
        return
    _promote(target_dir, manifest["version"], force=force, reason=reason, comparison=None)


def _fit_and_judge(batch, *, seed, data_path, synthetic, active, folds, repeats):
    """Fit the candidate, then evaluate it out of sample and against the active model."""
    from scoring.model import evaluation
    from scoring.model.training import train as fit
    from scoring.rules.loading import load_ruleset

    trained = fit(
        batch.profiles,
        batch.labels,
        seed=seed,
        data_source=data_path.name,
        synthetic=synthetic,
        ruleset_version=load_ruleset().version_string,
    )
    click.echo("evaluating out of sample and comparing with the active model ...", err=True)
    judged = evaluation.evaluate_candidate(
        batch.profiles,
        batch.labels,
        candidate=trained.bundle["estimator"],
        active=active,
        seed=seed,
        folds=folds,
        repeats=repeats,
    )
    return trained, judged


def _interval_text(metric: dict, digits: int) -> str:
    return (
        f"{metric['estimate']:.{digits}f} "
        f"[{metric['ci_low']:.{digits}f}, {metric['ci_high']:.{digits}f}]"
    )


def _echo_evaluation(evaluated: dict, comparison: dict | None) -> None:
    how = evaluated["method"]
    if "folds" in evaluated:
        how += f", {evaluated['folds']} folds x {evaluated['repeats']} repeats"
    click.echo(
        f"evaluation ({how}, {evaluated['rows']} rows): ROC AUC "
        f"{_interval_text(evaluated['roc_auc'], 3)}, Brier {_interval_text(evaluated['brier'], 4)}"
        " (95% bootstrap intervals)"
    )
    _echo_comparison(comparison)


def _echo_comparison(comparison: dict | None) -> None:
    if comparison is None:
        click.echo("comparison: no active model to compare with")
        return
    cand, act, diff = comparison["candidate"], comparison["active"], comparison["difference"]
    click.echo(
        f"comparison with active {comparison['against']} on the same {comparison['rows']} rows: "
        f"ROC AUC {cand['roc_auc']:.3f} vs {act['roc_auc']:.3f} "
        f"(difference {_interval_text(diff['roc_auc'], 3)}), "
        f"Brier {cand['brier']:.4f} vs {act['brier']:.4f} "
        f"(difference {_interval_text(diff['brier'], 4)})"
    )
    if comparison["guard"]:
        click.echo("the promotion guard would refuse it: " + "; ".join(comparison["guard"]))
    else:
        click.echo("the promotion guard would accept it")


def _promote(models_dir: Path, version: str, *, force, reason, comparison, actor="cli") -> None:
    from api.cli.audit import record_audit
    from scoring.model.registry import promote

    try:
        event = promote(
            models_dir, version, actor=actor, force=force, reason=reason, comparison=comparison
        )
    except ScoringError as exc:
        _fail(_one_line(exc))
    record_audit(event)
    forced = f" (forced: {event['reason']})" if event["forced"] else ""
    click.echo(f"active: {version}, previously {event['previous'] or 'none'}{forced}")


# --- generate-data -------------------------------------------------------------------


@main.command("generate-data")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
)
@click.option("--rows", type=click.IntRange(min=100), default=30_000, show_default=True)
@click.option("--seed", type=int, default=None, help="Seed for the training data.")
def generate_data(out_dir, rows, seed):
    """Write the synthetic training data and the example cohort (see data/README.md)."""
    from scoring.model import synth

    out_dir.mkdir(parents=True, exist_ok=True)
    kwargs = {} if seed is None else {"seed": seed}
    with tqdm(total=2, desc="generating", file=sys.stderr) as progress:
        training = synth.write_training_data(out_dir, n=rows, **kwargs)
        progress.update()
        cohort = synth.write_example_cohort(out_dir)
        progress.update()
    for path in [training, *cohort]:
        click.echo(f"wrote {path}")


# --- ruleset -------------------------------------------------------------------------


@main.group()
def ruleset() -> None:
    """Work with export-standard rulesets."""


@ruleset.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def ruleset_check(file):
    """Validate a ruleset file and name every problem."""
    from scoring.errors import RulesetError
    from scoring.rules.loading import load_ruleset

    try:
        loaded = load_ruleset(file)
    except RulesetError as exc:
        for where, why in exc.problems:
            click.echo(f"{file}: {where}: {why}", err=True)
        click.echo(
            f"error: {file}: {len(exc.problems)} problem(s); the ruleset was refused", err=True
        )
        sys.exit(EXIT_INPUT)
    click.echo(
        f"ok: ruleset {loaded.id} version {loaded.version_string}, "
        f"{len(loaded.criteria)} criteria, {int(np.sum(loaded.knockout))} knock-outs"
    )


from api.cli import audit as cli_governance  # noqa: E402,F401 (adds the governance commands)

if __name__ == "__main__":  # pragma: no cover
    main()
