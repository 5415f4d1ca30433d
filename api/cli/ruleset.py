"""``sme-export ruleset check|list|activate|diff|impact``: export-standard rulesets, their
registered versions, and what a new version would change."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from api.cli.common import (
    EXIT_INPUT,
    echo_json,
    fail,
    json_option,
    models_dir_option,
    models_dir_or_default,
    one_line,
    rulesets_dir_option,
    rulesets_dir_or_default,
)
from api.cli.inputs import cohort_profiles
from api.cli.stored import record_audit
from scoring.errors import ScoringError


@click.group()
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


def _load_ref(directory: Path, ref: str):
    from scoring.rules.loading import load_ruleset
    from scoring.rules.registry import resolve

    try:
        return load_ruleset(resolve(directory, ref))
    except ScoringError as exc:
        fail(one_line(exc))


@ruleset.command("list")
@rulesets_dir_option
def ruleset_list(rulesets_dir):
    """List the packaged default and the registered ruleset versions; * marks the active one."""
    from scoring.rules.registry import list_rulesets

    for item in list_rulesets(rulesets_dir_or_default(rulesets_dir)):
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
        event = activate(rulesets_dir_or_default(rulesets_dir), ref, actor=actor, reason=reason)
    except ScoringError as exc:
        fail(one_line(exc))
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

    directory = rulesets_dir_or_default(rulesets_dir)
    diff = diff_rulesets(_load_ref(directory, old), _load_ref(directory, new))
    if as_json:
        echo_json(diff)
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

    directory = rulesets_dir_or_default(rulesets_dir)
    try:
        old = _load_ref(directory, against) if against else load_ruleset(active_path(directory))
        model = load_model(models_dir_or_default(models_dir))
    except ScoringError as exc:
        fail(one_line(exc))
    profiles = cohort_profiles(cohort)
    report = tier_impact(profiles, old=old, new=_load_ref(directory, new), model=model)
    if as_json:
        echo_json(report)
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
