"""Governance commands of ``sme-export``: the model registry, ruleset versions, fairness
and drift.

``scoring`` knows nothing of the service's database. Where one helps, the service adds it
through the hooks below: ``AUDIT_SINKS`` also receive every activation (so a forced
promotion's reason reaches the audit table as well as ``models/history.jsonl``), and
``COHORT_SOURCES`` / ``RECENT_SOURCES`` read stored profiles by cohort name or recency.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click
import pandas as pd

from api.cli.score import _echo_comparison, _fail, _one_line, _promote, main, ruleset
from scoring.errors import ScoringError

#: Called with each registry event (promotion, rollback, ruleset activation).
AUDIT_SINKS: list[Callable[[dict], None]] = []
#: Called with a cohort name; return its profiles (canonical frame) or None if unknown.
COHORT_SOURCES: list[Callable[[str], pd.DataFrame | None]] = []
#: Called with a number of days; return the profiles scored in that time, or None.
RECENT_SOURCES: list[Callable[[int], pd.DataFrame | None]] = []

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
TRAINING_DATA = DATA_DIR / "training.parquet"

models_dir_option = click.option(
    "--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None
)
rulesets_dir_option = click.option(
    "--rulesets-dir", type=click.Path(file_okay=False, path_type=Path), default=None
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def record_audit(event: dict) -> None:
    """Hand a registry event to every audit sink; a failing sink is reported, not fatal
    (the registry's own history already holds the event)."""
    for sink in AUDIT_SINKS:
        try:
            sink(event)
        except Exception as exc:  # any sink failure must not undo an activation
            click.echo(f"warning: audit log not written ({_one_line(exc)})", err=True)


def _echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _models_dir(models_dir: Path | None) -> Path:
    from scoring.model.additive import default_models_dir

    return models_dir or default_models_dir()


def _rulesets_dir(rulesets_dir: Path | None) -> Path:
    from scoring.rules.registry import default_rulesets_dir

    return rulesets_dir or default_rulesets_dir()


def read_labelled(path: Path):
    """A labelled file validated as for training; every invalid row stops the command."""
    from scoring.contract.validate import validate_table
    from scoring.files.readers import read_table

    try:
        batch = validate_table(read_table(path), require_label=True)
    except ScoringError as exc:
        _fail(f"{path}: {_one_line(exc)}")
    if batch.errors:
        _fail(f"{path}: {len(batch.errors)} of {batch.received} rows are invalid")
    return batch


def read_profiles(path: Path) -> pd.DataFrame:
    """The valid profiles of a file, labelled or not (rejected rows are reported and left
    out)."""
    from scoring.contract.fields import LABEL
    from scoring.contract.validate import validate_table
    from scoring.files.readers import read_table

    try:
        raw = read_table(path)
        batch = validate_table(raw, require_label=LABEL in raw.frame.columns)
    except ScoringError as exc:
        _fail(f"{path}: {_one_line(exc)}")
    if batch.errors:
        click.echo(f"warning: {path}: {len(batch.errors)} invalid rows left out", err=True)
    return batch.profiles


# --- models ------------------------------------------------------------------------------


@main.group()
def models() -> None:
    """The model registry: list, show, promote and roll back model versions."""


@models.command("list")
@models_dir_option
@json_option
def models_list(models_dir, as_json):
    """List the registered model versions, oldest first; * marks the active one."""
    from scoring.model.registry import list_versions

    versions = list_versions(_models_dir(models_dir))
    if as_json:
        _echo_json(versions)
        return
    for v in versions:
        mark = "*" if v["active"] else " "
        origin = "synthetic" if v["synthetic"] else "real"
        click.echo(
            f"{mark} {v['version']}  {v['created_at']}  {v['training_rows']} rows ({origin})  "
            f"AUC {v['roc_auc']}  Brier {v['brier']}"
        )


@models.command("show")
@click.argument("version")
@models_dir_option
def models_show(version, models_dir):
    """Print a version's manifest (metrics, evaluation, comparison, training data)."""
    from scoring.model.registry import show

    try:
        _echo_json(show(_models_dir(models_dir), version))
    except ScoringError as exc:
        _fail(_one_line(exc))


@models.command("history")
@models_dir_option
def models_history(models_dir):
    """Every promotion and rollback, oldest first (JSON Lines)."""
    from scoring.model.registry import history

    for event in history(_models_dir(models_dir)):
        click.echo(json.dumps(event, ensure_ascii=False, sort_keys=True))


@models.command("promote")
@click.argument("version")
@click.option("--force", is_flag=True, help="Promote even if the guard finds it worse.")
@click.option("--reason", help="Why (required with --force; goes into the audit log).")
@click.option(
    "--data",
    "data_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled profiles neither model learned from: compare both on them now.",
)
@click.option("--actor", default="cli", show_default=True, help="Who promotes (audit log).")
@models_dir_option
def models_promote(version, force, reason, data_path, actor, models_dir):
    """Make VERSION the active model, if it is not worse than the active one.

    Refused when, on the same labelled rows, its ROC AUC is more than 0.01 below the active
    model's or its Brier score more than 0.005 above, unless --force with --reason.
    """
    from scoring.model.additive import load_model
    from scoring.model.evaluation import compare, guard_failures
    from scoring.model.features import encode_features

    directory = _models_dir(models_dir)
    comparison = None
    if data_path is not None:
        batch = read_labelled(data_path)
        try:
            candidate = load_model(directory, version)
            active = load_model(directory)
        except ScoringError as exc:
            _fail(_one_line(exc))
        X = encode_features(batch.profiles)
        comparison = {
            "against": active.version,
            "method": f"both models on {data_path.name}",
            **compare(batch.labels, candidate.predict_proba(X), active.predict_proba(X)),
        }
        comparison["guard"] = guard_failures(comparison)
        _echo_comparison(comparison)
    _promote(directory, version, force=force, reason=reason, comparison=comparison, actor=actor)


@models.command("rollback")
@click.option("--reason", help="Why (goes into the audit log).")
@click.option("--actor", default="cli", show_default=True, help="Who rolls back (audit log).")
@models_dir_option
def models_rollback(reason, actor, models_dir):
    """Re-activate the model that was active before the current one. Stored scores keep the
    model version that made them."""
    from scoring.model.registry import rollback

    try:
        event = rollback(_models_dir(models_dir), actor=actor, reason=reason)
    except ScoringError as exc:
        _fail(_one_line(exc))
    record_audit(event)
    click.echo(f"active: {event['version']} (rolled back from {event['previous']})")


# --- ruleset versions --------------------------------------------------------------------


def _load_ref(directory: Path, ref: str):
    from scoring.rules.loading import load_ruleset
    from scoring.rules.registry import resolve

    try:
        return load_ruleset(resolve(directory, ref))
    except ScoringError as exc:
        _fail(_one_line(exc))


@ruleset.command("list")
@rulesets_dir_option
def ruleset_list(rulesets_dir):
    """List the packaged default and the registered ruleset versions; * marks the active one."""
    from scoring.rules.registry import list_rulesets

    for item in list_rulesets(_rulesets_dir(rulesets_dir)):
        click.echo(f"{'*' if item['active'] else ' '} {item['version']}  {item['source']}")


@ruleset.command("activate")
@click.argument("ref")
@click.option("--reason", help="Why (goes into the audit log).")
@click.option("--actor", default="cli", show_default=True)
@rulesets_dir_option
def ruleset_activate(ref, reason, actor, rulesets_dir):
    """Register and activate a ruleset (a file, a registered version or `default`)."""
    from scoring.rules.registry import activate

    try:
        event = activate(_rulesets_dir(rulesets_dir), ref, actor=actor, reason=reason)
    except ScoringError as exc:
        _fail(_one_line(exc))
    event = {**event, "action": "ruleset_activate"}
    record_audit(event)
    click.echo(f"active ruleset: {event['version']} (previously {event['previous']})")


def _value_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@ruleset.command("diff")
@click.argument("old")
@click.argument("new")
@rulesets_dir_option
@json_option
def ruleset_diff(old, new, rulesets_dir, as_json):
    """What changed from ruleset OLD to NEW (files, registered versions or `default`)."""
    from scoring.audit.ruleset_diff import diff_rulesets

    directory = _rulesets_dir(rulesets_dir)
    diff = diff_rulesets(_load_ref(directory, old), _load_ref(directory, new))
    if as_json:
        _echo_json(diff)
        return
    click.echo(f"ruleset {diff['old']} -> {diff['new']}")
    for item in diff["settings"]:
        click.echo(f"~ {item['setting']}: {_value_text(item['old'])} -> {_value_text(item['new'])}")
    for item in diff["added"]:
        click.echo(f"+ {item['id']} ({item['category']}, {item['points']} points)")
    for item in diff["removed"]:
        click.echo(f"- {item['id']} ({item['category']}, {item['points']} points)")
    for item in diff["changed"]:
        for change in item["changes"]:
            click.echo(
                f"~ {item['id']}.{change['key']}: {_value_text(change['old'])} -> "
                f"{_value_text(change['new'])}"
            )
    if not (diff["settings"] or diff["added"] or diff["removed"] or diff["changed"]):
        click.echo("no differences")


def cohort_profiles(cohort: str) -> pd.DataFrame:
    """A cohort's profiles: a file, else a cohort name a registered source knows."""
    if Path(cohort).is_file():
        return read_profiles(Path(cohort))
    for source in COHORT_SOURCES:
        found = source(cohort)
        if found is not None:
            return found
    _fail(f"{cohort}: no such file or cohort")


@ruleset.command("impact")
@click.argument("new")
@click.option("--cohort", required=True, help="A profile file, or a cohort name in the database.")
@click.option("--against", default=None, help="Ruleset to compare with (default: the active one).")
@rulesets_dir_option
@models_dir_option
@json_option
def ruleset_impact(new, cohort, against, rulesets_dir, models_dir, as_json):
    """Which SMEs of a cohort would change tier if ruleset NEW were activated."""
    from scoring.audit.ruleset_diff import tier_impact
    from scoring.model.additive import load_model
    from scoring.rules.loading import load_ruleset
    from scoring.rules.registry import active_path

    directory = _rulesets_dir(rulesets_dir)
    try:
        old = _load_ref(directory, against) if against else load_ruleset(active_path(directory))
        model = load_model(_models_dir(models_dir))
    except ScoringError as exc:
        _fail(_one_line(exc))
    profiles = cohort_profiles(cohort)
    report = tier_impact(profiles, old=old, new=_load_ref(directory, new), model=model)
    if as_json:
        _echo_json(report)
        return
    click.echo(
        f"ruleset {report['old']} -> {report['new']} on {report['profiles']} SMEs "
        f"(model {report['model_version']}): {report['changed']} change tier"
    )
    for c in report["changes"]:
        click.echo(
            f"{c['sme_id']}: {c['old_tier']} -> {c['new_tier']} "
            f"({c['old_score']:.1f} -> {c['new_score']:.1f})"
        )


# --- fairness and drift ------------------------------------------------------------------


@main.command()
@click.option(
    "--data",
    "data_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=TRAINING_DATA,
    show_default=True,
    help="Labelled profiles with owner_gender (the shipped synthetic data by default).",
)
@click.option(
    "--share",
    type=click.FloatRange(0.01, 1.0),
    default=0.2,
    show_default=True,
    help="Share of SMEs shortlisted (top by score).",
)
@models_dir_option
@click.option("--ruleset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def fairness(data_path, share, models_dir, ruleset, as_json):
    """Fairness audit by owner_gender and sector: selection, tiers, calibration, TPR, proxies."""
    from scoring.audit.fairness import audit
    from scoring.engine import Scorer

    batch = read_labelled(data_path)
    try:
        scorer = Scorer.load(models_dir=models_dir, ruleset_path=ruleset)
    except ScoringError as exc:
        _fail(_one_line(exc))
    scores = scorer.score(batch.profiles)
    report = audit(
        batch.profiles,
        batch.labels,
        {
            "owner_gender": batch.personal["owner_gender"].to_numpy(dtype=object),
            "sector": batch.profiles["sector"].to_numpy(dtype=object),
        },
        scores=scores,
        share=share,
    )
    if as_json:
        _echo_json(report)
        return
    click.echo(
        f"{report['rows']} labelled SMEs, top {share:.0%} shortlisted ({report['shortlisted']}); "
        f"model {report['model_version']}"
    )
    for name, table in report["attributes"].items():
        click.echo(f"\n{name}")
        click.echo(
            f"  {'group':<22}{'n':>7}{'selected':>10}{'ratio':>7}{'TPR':>7}"
            f"{'pred':>7}{'obs':>7}  flags"
        )
        for r in table["groups"]:
            click.echo(
                f"  {r['group']:<22}{r['n']:>7}{r['selection_rate']:>10.3f}"
                f"{_fmt(r['selection_ratio_to_best'])}{_fmt(r['true_positive_rate'])}"
                f"{r['mean_predicted']:>7.3f}{r['observed_rate']:>7.3f}  {', '.join(r['flags'])}"
            )
    proxy = report.get("proxy")
    if proxy:
        click.echo(
            f"\nproxy check (owner_gender is never a model input): the inputs predict gender "
            f"with ROC AUC {proxy['inputs_predict_gender_auc']:.3f} (0.5 = not at all); "
            f"score-female correlation {proxy['score_female_correlation']:.3f}"
        )
    click.echo(
        "flags: "
        + ("; ".join(f for t in report["attributes"].values() for f in t["flags"]) or "none")
    )


def _fmt(value) -> str:
    return f"{'-':>7}" if value is None else f"{value:>7.3f}"


@main.command()
@click.option(
    "--recent",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Recently scored profiles (default: those scored in the service's database).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="With the database: profiles scored in the last DAYS days.",
)
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=TRAINING_DATA,
    show_default=True,
    help="The training data.",
)
@models_dir_option
@json_option
def drift(recent, days, reference, models_dir, as_json):
    """Population stability index of each model input and of the score (0.1 watch, 0.25 act)."""
    from scoring.audit.drift import drift_report
    from scoring.engine import Scorer

    if recent is not None:
        now = read_profiles(recent)
    else:
        now = next((f for f in (s(days) for s in RECENT_SOURCES) if f is not None), None)
        if now is None:
            _fail("no recent profiles: give --recent FILE or a database with scored SMEs")
    if len(now) == 0:
        _fail("no recent profiles to compare")
    try:
        scorer = Scorer.load(models_dir=models_dir)
    except ScoringError as exc:
        _fail(_one_line(exc))
    base = read_profiles(reference)
    report = drift_report(
        base,
        now,
        reference_scores=scorer.score(base).score,
        recent_scores=scorer.score(now).score,
    )
    if as_json:
        _echo_json(report)
        return
    click.echo(
        f"drift of {report['recent_rows']} recent profiles against {report['reference_rows']} "
        f"training rows: {report['status']}"
    )
    click.echo(f"  {'score':<32} PSI {report['score']['psi']:.4f}  {report['score']['status']}")
    for f in report["features"]:
        click.echo(f"  {f['feature']:<32} PSI {f['psi']:.4f}  {f['status']}")
    if report["status"] == "act":
        click.echo(
            "act: the scored population differs from the training data; retrain or investigate",
            err=True,
        )
