"""``sme-export demo``: the example cohort's year after the programme in the service's
database, so the outcome pages have something to show.

``demo load`` scores and stores the 85 synthetic SMEs of ``data/cohort_bandung_2020.csv``
as one cohort, records the office's support decisions from
``data/cohort_bandung_2020_decisions.csv`` and imports the follow-ups of
``data/cohort_bandung_2020_followups.csv`` (see data/README.md; every row is synthetic).
It can be run again: SMEs already stored are not scored again, a decision about an SME
that already has one on the same day is skipped, and follow-ups already stored are not
stored twice. ``demo files`` regenerates the two outcome files.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from urllib.parse import quote

import click
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import (
    EXIT_REJECTED_ROWS,
    database_url_option,
    default_url,
    display_url,
    fail,
    one_line,
    session,
)
from scoring.errors import ScoringError

#: The cohort the demo's SMEs and decisions are stored under.
DEMO_COHORT = "Go Export Bandung 2020"
#: Who the demo's records are by, in the processing log.
DEMO_ACTOR = "cli:demo"
#: The shipped data of a source checkout.
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
COHORT_FILE = "cohort_bandung_2020.csv"
MAX_ROWS = 10_000
EVALUATION_PATH = "/outcomes/evaluation"


@click.group()
def demo() -> None:
    """The example cohort's support decisions and export follow-ups (synthetic)."""


@demo.command("load")
@database_url_option
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DATA_DIR,
    show_default="data/ of the source checkout",
    help="Where the cohort, decisions and follow-ups files are.",
)
@click.option("--cohort", default=DEMO_COHORT, show_default=True, help="Cohort name to store.")
def demo_load(database_url: str | None, data_dir: Path, cohort: str) -> None:
    """Load the example cohort, its support decisions and its follow-ups into the database.

    A SQLite database is created or migrated first (as `sme-export serve` does); any other
    must be migrated with `sme-export db upgrade`. Safe to repeat: a second run adds
    nothing.
    """
    from scoring.model import synth

    files = {
        "cohort": data_dir / COHORT_FILE,
        "decisions": data_dir / synth.DECISIONS_CSV,
        "followups": data_dir / synth.FOLLOWUPS_CSV,
    }
    for path in files.values():
        if not path.is_file():
            fail(f"{path}: no such file; regenerate with `sme-export demo files --out-dir DIR`")
    url = database_url or default_url()
    _migrate_sqlite(url)
    scorer = _scorer()
    today = dt.date.today()
    with session(url) as db_session:
        scored = _load_cohort(db_session, files["cohort"], scorer, cohort=cohort)
        decided = _load_decisions(db_session, files["decisions"], cohort=cohort, today=today)
        followed = _load_followups(db_session, files["followups"], today=today)
        figures = _evaluation(db_session, scorer, cohort)
    click.echo(f"database {display_url(url)}")
    click.echo(
        f'cohort "{cohort}": {scored["stored"]} SME(s) scored and stored, '
        f"{scored['already']} already stored"
    )
    click.echo(
        f"support decisions: {decided['stored']} recorded ({decided['support']} supported, "
        f"{decided['no_support']} not supported), {decided['already']} already recorded"
    )
    click.echo(
        f"follow-ups: {followed['stored']} stored, {followed['already_recorded']} already "
        f"recorded, {followed['rejected']} rejected"
    )
    _echo_figures(figures)
    _echo_next_steps(cohort, url)


@demo.command("files")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DATA_DIR,
    show_default="data/ of the source checkout",
)
def demo_files(out_dir: Path) -> None:
    """Regenerate the example cohort's decisions and follow-ups files (deterministic)."""
    from scoring.model import synth

    for path in synth.write_example_outcomes(out_dir):
        click.echo(f"wrote {path}")


# --- the steps --------------------------------------------------------------------------------


def _migrate_sqlite(url: str) -> None:
    """Create or migrate a SQLite database (its folder too); leave any other alone."""
    from api.migrate import upgrade

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    if parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(url)
    except (SQLAlchemyError, OSError) as exc:
        fail(f"cannot migrate {display_url(url)}: {one_line(exc)}")


def _scorer():
    """The active model and ruleset, as ``sme-export score`` uses them."""
    from scoring.engine import Scorer
    from scoring.rules.registry import active_path, default_rulesets_dir

    try:
        return Scorer.load(ruleset_path=active_path(default_rulesets_dir()))
    except ScoringError as exc:
        fail(one_line(exc))


def _load_cohort(db_session, path: Path, scorer, *, cohort: str) -> dict:
    """Score the cohort file and store the SMEs the database does not hold yet."""
    from api import store
    from api.services import ingest

    with path.open("rb") as stream:
        intake = ingest.read_file(stream, filename=path.name, max_rows=MAX_ROWS)
    if intake.errors:
        fail(f"{path}: {len(intake.errors)} row(s) rejected; the shipped file should be clean")
    scored = ingest.score(intake, scorer, lang="en")
    known = store.known_smes(db_session, (p["sme_id"] for p in scored.profiles))
    new = [i for i, p in enumerate(scored.profiles) if p["sme_id"] not in known]
    fresh = ingest.Scored(
        [scored.profiles[i] for i in new],
        [scored.personal[i] for i in new],
        [scored.records[i] for i in new],
    )
    ingest.store_scored(db_session, fresh, cohort=cohort, batch_id=None, actor=DEMO_ACTOR)
    return {"stored": len(new), "already": len(scored.profiles) - len(new)}


def _load_decisions(db_session, path: Path, *, cohort: str, today: dt.date) -> dict:
    """Record the file's decisions, skipping an SME that already has one on that day."""
    from api import store

    decisions = read_decisions(path, today=today)
    counts = {"stored": 0, "already": 0, "support": 0, "no_support": 0}
    if not decisions:
        return counts
    days = [d["decided_on"] for d in decisions]
    held = {
        (row["sme_id"], row["decided_on"])
        for row in store.labelled_decisions(
            db_session, store.DecisionFilter(decided_from=min(days), decided_until=max(days))
        )
    }
    new = [d for d in decisions if (d["sme_id"], d["decided_on"]) not in held]
    if new:
        store.record_decisions(db_session, [{**d, "cohort": cohort} for d in new], actor=DEMO_ACTOR)
    counts.update(stored=len(new), already=len(decisions) - len(new))
    for d in new:
        counts[d["decision"]] += 1
    return counts


def read_decisions(path: Path, *, today: dt.date) -> list[dict]:
    """The decisions of a decisions file (codes or their names in either language; dates
    as outcome files write them); any problem fails the command, naming the row."""
    from scoring.contract.choices import choice_key
    from scoring.contract.fields import MARKETS
    from scoring.contract.outcomes import decision_problems, outcome_labels, parse_date
    from scoring.files.readers import iter_tables
    from scoring.model.synth import DECISION_COLUMNS

    lookups = {
        section: {
            choice_key(text): value
            for lang in ("en", "id")
            for value, name in outcome_labels(lang)[section].items()
            for text in (value, name)
        }
        for section in ("decision", "support_kind")
    }
    decisions, problems = [], []
    for raw in iter_tables(path):
        for number, row in zip(raw.source_rows(), raw.frame.to_dict("records"), strict=True):
            cells = {name: row.get(name) for name in DECISION_COLUMNS}
            record = {
                k: (v.strip() if isinstance(v, str) and v.strip() else None)
                for k, v in cells.items()
            }
            errors = []
            for section in ("decision", "support_kind"):
                if record.get(section) is not None:
                    value = lookups[section].get(choice_key(record[section]))
                    if value is None:
                        errors.append(f"{section}: unknown value {record[section]!r}")
                    record[section] = value
            if record.get("decision") is None and not errors:
                errors.append("decision: missing")
            if record.get("target_market") not in (None, *MARKETS):
                errors.append(f"target_market: unknown value {record['target_market']!r}")
            try:
                record["decided_on"] = parse_date(record.get("decided_on") or "")
            except ValueError as exc:
                errors.append(f"decided_on: {exc}")
            if not errors:
                errors += [
                    f"{e['field']}: {e['message']}" for e in decision_problems(record, today=today)
                ]
            if not record.get("sme_id"):
                errors.append("sme_id: missing")
            if errors:
                problems.append(f"row {number}: " + "; ".join(errors))
            else:
                decisions.append(record)
    if problems:
        fail(f"{path}: " + " | ".join(problems[:10]))
    return decisions


def _load_followups(db_session, path: Path, *, today: dt.date) -> dict:
    """Import the follow-ups file; a rejected row is reported and fails the command."""
    from api.services.outcome_files import error_lines, import_outcomes

    with path.open("rb") as stream:
        result = import_outcomes(
            db_session,
            stream,
            filename=path.name,
            actor=DEMO_ACTOR,
            today=today,
            max_rows=MAX_ROWS,
        )
    if result["rejected"]:
        for line in error_lines(result["errors"]):
            click.echo(line, err=True)
        click.echo(f"{path}: {result['rejected']} row(s) rejected; nothing loaded", err=True)
        sys.exit(EXIT_REJECTED_ROWS)
    return result


def _evaluation(db_session, scorer, cohort: str) -> dict:
    from api import store
    from api.services.outcomes import evaluation

    return evaluation(
        db_session,
        store.DecisionFilter(cohort=cohort),
        tiers=[tier.id for tier in scorer.ruleset.tiers],
    )


# --- what it printed --------------------------------------------------------------------------


def _echo_figures(figures: dict) -> None:
    for key, title in (("supported", "supported"), ("not_supported", "not supported")):
        c = figures["counts"][key]
        click.echo(
            f"outcomes, {title}: {c['decisions']} decision(s), {c['known']} known "
            f"({c['exported']} exported within 12 months), {c['censored']} censored"
        )
    if not figures["enough"]:
        click.echo(figures["message"])
        return
    calibration = figures["calibration"]
    click.echo(
        f"supported SMEs: export rate {calibration['base_rate']:.0%}, mean predicted "
        f"probability {calibration['mean_predicted']:.0%}, Brier score {calibration['brier']}"
    )


def _echo_next_steps(cohort: str, url: str) -> None:
    where = "" if url == default_url() else f" --database-url '{display_url(url)}'"
    click.echo(
        f"evaluation page: run `sme-export serve{where}`, sign in and open "
        f"{EVALUATION_PATH}?cohort={quote(cohort)}"
    )
    root = click.get_current_context().find_root().command
    if isinstance(root, click.Group) and "outcomes" in root.commands:
        click.echo(
            f'or on the command line: sme-export outcomes evaluate --cohort "{cohort}"{where}'
        )
