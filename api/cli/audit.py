"""``sme-export fairness`` and ``sme-export drift``: who the scores select, and whether the
scored population still looks like the training data."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import echo_json, fail, json_option, models_dir_option, one_line
from api.cli.inputs import read_labelled, read_profiles
from api.cli.stored import recently_scored
from scoring.errors import ScoringError

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
TRAINING_DATA = DATA_DIR / "training.parquet"


@click.command()
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
        fail(one_line(exc))
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
        echo_json(report)
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


@click.command()
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
        now = recently_scored(days)
        if now is None:
            fail("no recent profiles: give --recent FILE or a database with scored SMEs")
    if len(now) == 0:
        fail("no recent profiles to compare")
    try:
        scorer = Scorer.load(models_dir=models_dir)
    except ScoringError as exc:
        fail(one_line(exc))
    base = read_profiles(reference)
    report = drift_report(
        base,
        now,
        reference_scores=scorer.score(base).score,
        recent_scores=scorer.score(now).score,
    )
    if as_json:
        echo_json(report)
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
