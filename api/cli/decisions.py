"""``sme-export decisions record|list``: what the office decided for an SME (support, and
how, or not, and why), tied to the SME's latest stored score, and the decisions with the
label their follow-ups give them so far."""

from __future__ import annotations

import datetime as dt

import click

from api.cli.common import database_url_option, echo_json, echo_table, fail, json_option, session
from api.cli.messages import LANGUAGES
from scoring.contract.fields import MARKETS
from scoring.contract.messages import TOO_LONG
from scoring.contract.outcomes import SUPPORT_KINDS, TEXT_MAX, decision_problems

TEXTS = {
    "en": {
        "recorded": "recorded decision {id}: {sme_id} {what} on {day} (score {score:.1f}, "
        "{tier}, model {model})",
        "support": "supported ({kind})",
        "no_support": "not supported",
        "one_of": "give either --support KIND or --no-support",
        "none": "no decisions",
        "shown": "{shown} of {total} decision(s)",
        "yes": "exported",
        "no": "not exported",
        "unknown": "not known yet",
        "header": ("id", "sme_id", "decided on", "decision", "score", "tier", "outcome"),
    },
    "id": {
        "recorded": "keputusan {id} dicatat: {sme_id} {what} pada {day} (skor {score:.1f}, "
        "{tier}, model {model})",
        "support": "didukung ({kind})",
        "no_support": "tidak didukung",
        "one_of": "berikan --support JENIS atau --no-support",
        "none": "tidak ada keputusan",
        "shown": "{shown} dari {total} keputusan",
        "yes": "sudah ekspor",
        "no": "belum ekspor",
        "unknown": "belum diketahui",
        "header": ("id", "sme_id", "tanggal", "keputusan", "skor", "tingkat", "hasil"),
    },
}
#: Decisions fetched per query by ``decisions list``.
PAGE_SIZE = 500

lang_option = click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default="en",
    show_default=True,
    help="Language of the messages.",
)


@click.group()
def decisions() -> None:
    """Support decisions: record what the office decided for an SME, and list them."""


@decisions.command("record")
@click.argument("sme_id")
@click.option("--support", "support_kind", type=click.Choice(SUPPORT_KINDS), help="How.")
@click.option("--no-support", is_flag=True, help="The SME is not supported (give --reason).")
@click.option("--reason", help="Why (required with --no-support).")
@click.option("--other", "support_other", help="What the support is, with --support other.")
@click.option(
    "--market",
    "target_market",
    type=click.Choice(MARKETS, case_sensitive=False),
    help="The market the support aims at.",
)
@click.option(
    "--date",
    "decided_on",
    type=click.DateTime(["%Y-%m-%d"]),
    help="When it was decided (YYYY-MM-DD) [default: today].",
)
@click.option("--by", "decided_by", help="Who decided (a person or a committee).")
@click.option("--cohort", help="The cohort or programme the decision belongs to.")
@click.option("--actor", default="cli", show_default=True, help="Who records it (audit log).")
@lang_option
@json_option
@database_url_option
def decisions_record(
    sme_id,
    support_kind,
    no_support,
    reason,
    support_other,
    target_market,
    decided_on,
    decided_by,
    cohort,
    actor,
    lang,
    as_json,
    database_url,
):
    """Record the decision about SME_ID, tied to its latest stored score."""
    from api import store

    words = TEXTS[lang]
    if (support_kind is None) == (not no_support):
        raise click.UsageError(words["one_of"])
    record = {
        "sme_id": sme_id,
        "decision": "no_support" if no_support else "support",
        "support_kind": support_kind,
        "support_other": _text(support_other),
        "target_market": target_market,
        "decided_on": decided_on.date() if decided_on else dt.date.today(),
        "decided_by": _text(decided_by),
        "reason": _text(reason),
        "cohort": _text(cohort),
    }
    problems = _problems(record)
    if problems:
        fail("; ".join(f"{p['field']}: {p['message']}" for p in problems), lang=lang)
    with session(database_url) as db_session:
        try:
            (stored,) = store.record_decisions(db_session, [record], actor=actor)
        except store.UnscoredError as exc:
            fail(f"{exc} Score it first (sme-export score or the API's batches).", lang=lang)
    if as_json:
        echo_json(stored)
        return
    click.echo(_recorded_line(stored, words))


def _problems(record: dict) -> list[dict]:
    """What is wrong with the decision: the outcome contract's checks and over-long texts."""
    problems = decision_problems(record, today=dt.date.today())
    problems += [
        {"field": name, "message": TOO_LONG.format(max=TEXT_MAX)}
        for name in ("support_other", "decided_by", "reason")
        if record[name] is not None and len(record[name]) > TEXT_MAX
    ]
    return problems


def _recorded_line(stored: dict, words: dict) -> str:
    """The stored decision in one line: what was decided, when, and the score it rests on."""
    what = (
        words["support"].format(kind=stored["support_kind"])
        if stored["decision"] == "support"
        else words["no_support"]
    )
    return words["recorded"].format(
        id=stored["id"],
        sme_id=stored["sme_id"],
        what=what,
        day=stored["decided_on"],
        score=stored["score"],
        tier=stored["tier"],
        model=stored["model_version"],
    )


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@decisions.command("list")
@click.option("--cohort", help="Only decisions of this cohort (or about its SMEs).")
@click.option("--sme", "sme_id", help="Only decisions about this SME.")
@lang_option
@json_option
@database_url_option
def decisions_list(cohort, sme_id, lang, as_json, database_url):
    """List the decisions, newest first, with the outcome known so far (exported within
    12 months, not, or not known yet)."""
    from api import store

    where = store.DecisionFilter(cohort=cohort, sme_id=sme_id)
    found: list[dict] = []
    with session(database_url) as db_session:
        page = 1
        while True:
            rows, total = store.list_decisions(db_session, where, page=page, per_page=PAGE_SIZE)
            found += rows
            if len(found) >= total or not rows:
                break
            page += 1
    if as_json:
        echo_json(found)
        return
    words = TEXTS[lang]
    if not found:
        click.echo(words["none"])
        return
    outcome = {1: words["yes"], 0: words["no"], None: words["unknown"]}
    echo_table(
        words["header"],
        [
            (
                str(d["id"]),
                d["sme_id"],
                d["decided_on"],
                d["support_kind"] if d["decision"] == "support" else d["decision"],
                f"{d['score']:.1f}",
                d["tier"],
                outcome[d["exported_within_12m"]],
            )
            for d in found
        ],
    )
    click.echo(words["shown"].format(shown=len(found), total=total), err=True)
