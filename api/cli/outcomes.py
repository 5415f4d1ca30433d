"""``sme-export outcomes import|template|worklist|evaluate``: export follow-ups read from an
office's file, the file to fill in, the SMEs due a follow-up, and whether the score was
right (every figure with its 95% interval, or counts only while outcomes are too few;
the text report is ``api.cli.outcome_report``'s).

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
from api.cli.outcome_report import report_lines
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
    if result["notices"]:  # the header found below titles, names read, blank rows
        from api.web.notices import OUTCOME_LABEL, command_line_notices

        for line in command_line_notices(result["notices"], lang, label_key=OUTCOME_LABEL):
            click.echo(line, err=True)
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
