"""``sme-export score``: one JSON profile, or every row of a table file, as JSON, a results
file, or a ranked table in English or Bahasa Indonesia."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import pandas as pd
from tqdm import tqdm

from api.cli.common import (
    EXIT_REJECTED_ROWS,
    fail,
    one_line,
    row_error_details,
    row_error_line,
)
from api.cli.messages import LANGUAGES, text
from scoring.errors import ScoringError

TABLE_FORMATS = ("csv", "xlsx", "parquet", "jsonl", "json")
#: The columns of the ranked table (``--table``), in order.
RANKED_COLUMNS = ("rank", "sme_id", "name", "sector", "score", "tier", "next_step", "knockouts")


def _load_scorer(models_dir: Path | None, ruleset: Path | None, *, lang: str = "en"):
    """The active model and, unless ``ruleset`` names a file, the active ruleset version."""
    from scoring.engine import Scorer
    from scoring.rules.registry import active_path, default_rulesets_dir

    try:
        if ruleset is None:
            ruleset = active_path(default_rulesets_dir())
        return Scorer.load(models_dir=models_dir, ruleset_path=ruleset, estimator=False)
    except ScoringError as exc:
        fail(one_line(exc), lang=lang)


def _is_single_profile(path: Path) -> bool:
    if path.suffix.lower() != ".json":
        return False
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


@click.command()
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
            fail(
                text(lang, "field_errors", file=file, count=len(exc.errors), details=details),
                lang=lang,
            )
        except (ValueError, ScoringError) as exc:
            fail(f"{file}: {one_line(exc)}", lang=lang)
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
        fail(text(lang, "out_format", formats=formats), lang=lang)
    return format


def _score_table(file, *, scorer, out, table, lang, chunk_rows, quiet) -> None:
    from scoring.contract.validate import validate_table
    from scoring.files.notices import merge_notices
    from scoring.files.readers import iter_tables

    received = scored = 0
    errors = []
    skipped: list[int] = []
    notices = []
    ranked: list[pd.DataFrame] = []
    sink = None if table else _ResultSink(out, lang=lang)
    table_format = _out_format(out, lang=lang) if table else None
    progress = tqdm(
        unit=text(lang, "rows"),
        disable=quiet or not sys.stderr.isatty(),
        file=sys.stderr,
        desc=text(lang, "progress"),
    )
    try:
        for raw in iter_tables(file, chunk_rows=chunk_rows):
            batch = validate_table(raw)
            received += batch.received
            errors.extend(batch.errors)
            skipped.extend(row.row for row in batch.skipped)
            notices.extend(batch.notices)
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
        fail(one_line(exc), lang=lang)
    if table:
        frame = _ranked(pd.concat(ranked, ignore_index=True) if ranked else None, scorer, lang)
        if out is None:
            tiers = [tier.label[lang] for tier in scorer.ruleset.tiers]
            _print_ranked(frame, lang, tier_width=max(map(len, tiers)))
        else:
            _write_ranked(frame, out, format=table_format, lang=lang)
    rejected_file = None
    if out is not None and (table or sink.format != "json"):
        rejected_file = out.with_name(out.stem + ".rejected.csv")
    told = [notice.to_dict() for notice in merge_notices(notices)]
    _report(received, scored, errors, skipped, notices=told, rejected_file=rejected_file, lang=lang)
    if errors:
        sys.exit(EXIT_REJECTED_ROWS)


def _report(
    received: int,
    scored: int,
    errors: list,
    skipped: list[int],
    *,
    notices: list[dict],
    rejected_file: Path | None,
    lang: str,
) -> None:
    """On stderr: the rejected rows (also written to ``rejected_file`` if given), what was
    assumed in reading a spreadsheet, the skipped non-data rows, and the counts."""
    if errors:
        if rejected_file is not None:
            pd.DataFrame(
                {
                    "row": [e.row for e in errors],
                    "sme_id": [e.sme_id for e in errors],
                    "errors": [row_error_details(e, lang=lang) for e in errors],
                }
            ).to_csv(rejected_file, index=False)
            click.echo(text(lang, "rejected_written", path=rejected_file), err=True)
        for error in errors[:20]:
            click.echo(row_error_line(error, lang=lang), err=True)
        if len(errors) > 20:
            click.echo(text(lang, "more_rejected", count=len(errors) - 20), err=True)
    if notices:  # the header found below titles, names read, merged cells, blank rows
        from api.web.notices import command_line_notices

        for line in command_line_notices(notices, lang):
            click.echo(line, err=True)
    if skipped:  # totals, notes and signatures of an office spreadsheet: not profiles
        rows = ", ".join(map(str, skipped))
        click.echo(text(lang, "skipped", count=len(skipped), rows=rows), err=True)
    summary_line = text(lang, "summary", received=received, scored=scored, rejected=len(errors))
    click.echo(summary_line, err=True)


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
        click.echo(text(lang, "no_profiles"))
        return
    col = {name: text(lang, f"col.{name}") for name in RANKED_COLUMNS}
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
    click.echo(text(lang, "tiers") + ", ".join(f"{tier} {count}" for tier, count in tiers.items()))


def _write_ranked(frame: pd.DataFrame, out: Path, *, format: str, lang: str) -> None:
    """The ranked table into ``out`` in ``format``, through a ``.part`` file renamed into place."""
    from scoring.files.writers import write_table

    partial = out.with_name(out.name + ".part")
    try:
        write_table(frame, partial, format=format)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"{out}: {exc.strerror or one_line(exc)}", lang=lang)
    click.echo(text(lang, "table_written", path=out), err=True)
