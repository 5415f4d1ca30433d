"""Support decisions and export follow-ups: recorded, corrected, listed, the labels derived
from them, the follow-up worklist, and what erasure leaves of them.

Every change is in the processing log (``decision.*`` and ``followup.*`` events naming the
SME by its sme_id); details never quote a note, a reason or any other free text.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from api.store.audit_log import audit
from api.store.common import chunks, format_time, upsert
from api.store.events import emit_many
from api.tables import (
    CohortMember,
    ExportFollowUp,
    OutcomeAggregate,
    Score,
    Sme,
    SupportDecision,
    utcnow,
)
from scoring.contract import fields as F
from scoring.contract.outcomes import OUTCOME_COLUMNS, outcome_record
from scoring.outcomes.labels import Label, derive_label

#: The fields of a decision the caller gives; the score, profile and actor are the store's.
DECISION_FIELDS = (
    "sme_id",
    "decision",
    "support_kind",
    "support_other",
    "target_market",
    "decided_on",
    "decided_by",
    "reason",
    "shortlist",
    "cohort",
)
#: What may be corrected on a recorded decision (not the SME, nor the score it rested on).
DECISION_CHANGEABLE = DECISION_FIELDS[1:]
#: Follow-up milestones of the worklist, in months after a support decision.
WORKLIST_MONTHS = (3, 6, 12)


class UnscoredError(LookupError):
    """A decision names SMEs that are unknown or have no stored score."""

    def __init__(self, sme_ids: Sequence[str]):
        self.sme_ids = list(sme_ids)
        shown = ", ".join(self.sme_ids[:10]) + (" ..." if len(self.sme_ids) > 10 else "")
        super().__init__(f"No stored score for {len(self.sme_ids)} SME(s): {shown}.")


def _day(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- decisions --------------------------------------------------------------------------------


def decision_dict(row: SupportDecision, label: Label | None = None) -> dict:
    """A decision as the API and pages show it (without the profile snapshot)."""
    out = {
        "id": row.id,
        **{name: getattr(row, name) for name in DECISION_FIELDS},
        "decided_on": _day(row.decided_on),
        "score_id": row.score_id,
        "sector": row.sector,
        "score": row.score,
        "tier": row.tier,
        "ml_probability": row.ml_probability,
        "model_version": row.model_version,
        "ruleset_version": row.ruleset_version,
        "scored_at": format_time(row.scored_at),
        "recorded_by": row.recorded_by,
        "recorded_at": format_time(row.recorded_at),
        "updated_at": format_time(row.updated_at),
    }
    if label is not None:
        out["exported_within_12m"] = label.value
        out["label_basis"] = label.basis
    return out


def record_decisions(session: Session, decisions: Sequence[dict], *, actor: str) -> list[dict]:
    """Store decisions, each tied to its SME's latest stored score and profile; all or none.

    Raises ``UnscoredError`` naming every SME that is unknown or was never scored.
    """
    sme_ids = list(dict.fromkeys(d["sme_id"] for d in decisions))
    latest = _latest_scores(session, sme_ids)
    missing = [sme_id for sme_id in sme_ids if sme_id not in latest]
    if missing:
        raise UnscoredError(missing)
    now = utcnow()
    rows = []
    for decision in decisions:
        score, profile = latest[decision["sme_id"]]
        row = SupportDecision(
            **{name: decision.get(name) for name in DECISION_FIELDS},
            score_id=score.id,
            sector=score.sector,
            score=score.score,
            tier=score.tier,
            ml_probability=score.ml_probability,
            model_version=score.model_version,
            ruleset_version=score.ruleset_version,
            scored_at=score.scored_at,
            profile={name: profile.get(name) for name in F.PROFILE_COLUMNS},
            recorded_by=actor,
            recorded_at=now,
            updated_at=now,
        )
        row.decided_by = decision.get("decided_by") or actor
        session.add(row)
        rows.append(row)
    session.flush()
    for row in rows:
        _audit_decision(session, "decision.record", row, actor)
    emit_many(session, (("decision.recorded", _decision_event(row)) for row in rows))
    return [decision_dict(row) for row in rows]


def _decision_event(row: SupportDecision) -> dict:
    """The payload of ``decision.recorded``: codes, dates and the score it rested on; no
    free text (reason, who decided)."""
    return {
        "decision_id": row.id,
        "sme_id": row.sme_id,
        "decision": row.decision,
        "support_kind": row.support_kind,
        "target_market": row.target_market,
        "decided_on": _day(row.decided_on),
        "cohort": row.cohort,
        "score_id": row.score_id,
        "score": row.score,
        "tier": row.tier,
        "model_version": row.model_version,
        "ruleset_version": row.ruleset_version,
    }


def _latest_scores(session: Session, sme_ids: Sequence[str]) -> dict[str, tuple[Score, dict]]:
    """Each SME's latest score row and its profile, by sme_id (unscored SMEs left out)."""
    found: dict[str, tuple[Score, dict]] = {}
    for chunk in chunks(sme_ids):
        latest = select(func.max(Score.id)).where(Score.sme_id.in_(chunk)).group_by(Score.sme_id)
        rows = session.execute(
            select(Score, Sme.profile)
            .join(Sme, Sme.sme_id == Score.sme_id)
            .where(Score.id.in_(latest))
        )
        for score, profile in rows:
            found[score.sme_id] = (score, profile)
    return found


def _audit_decision(session: Session, action: str, row: SupportDecision, actor: str) -> None:
    audit(
        session,
        actor=actor,
        action=action,
        subject=row.sme_id,
        details={
            "decision_id": row.id,
            "decision": row.decision,
            "support_kind": row.support_kind,
            "decided_on": _day(row.decided_on),
        },
    )


def get_decision(session: Session, decision_id: int) -> dict | None:
    row = session.get(SupportDecision, decision_id)
    if row is None:
        return None
    return decision_dict(row, _labels_of(session, [row])[row.id])


def update_decision(
    session: Session, decision_id: int, changes: dict, *, actor: str
) -> dict | None:
    """Correct a recorded decision (what was decided, not the score it rested on)."""
    row = session.get(SupportDecision, decision_id)
    if row is None:
        return None
    unknown = set(changes) - set(DECISION_CHANGEABLE)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    _audit_decision(session, "decision.update", row, actor)
    return decision_dict(row, _labels_of(session, [row])[row.id])


def delete_decision(session: Session, decision_id: int, *, actor: str) -> bool:
    """Withdraw a decision recorded by mistake (the processing log keeps that it was)."""
    row = session.get(SupportDecision, decision_id)
    if row is None:
        return False
    _audit_decision(session, "decision.delete", row, actor)
    session.delete(row)
    session.flush()
    return True


@dataclass
class DecisionFilter:
    """Which decisions a list or an evaluation is about (every field optional)."""

    sme_id: str | None = None
    cohort: str | None = None
    sector: str | None = None
    support_kind: str | None = None
    decision: str | None = None
    decided_from: dt.date | None = None
    decided_until: dt.date | None = None
    #: Changed since: the decision itself, or its label (a follow-up of the SME recorded or
    #: corrected since).
    updated_since: dt.datetime | None = None

    def apply(self, query: Select) -> Select:
        for column, value in (
            (SupportDecision.sme_id, self.sme_id),
            (SupportDecision.sector, self.sector),
            (SupportDecision.support_kind, self.support_kind),
            (SupportDecision.decision, self.decision),
        ):
            if value is not None:
                query = query.where(column == value)
        if self.cohort is not None:
            members = select(CohortMember.sme_id).where(CohortMember.cohort == self.cohort)
            query = query.where(
                (SupportDecision.cohort == self.cohort) | SupportDecision.sme_id.in_(members)
            )
        if self.decided_from is not None:
            query = query.where(SupportDecision.decided_on >= self.decided_from)
        if self.decided_until is not None:
            query = query.where(SupportDecision.decided_on <= self.decided_until)
        if self.updated_since is not None:
            followed_up = select(ExportFollowUp.id).where(
                ExportFollowUp.sme_id == SupportDecision.sme_id,
                ExportFollowUp.updated_at >= self.updated_since,
            )
            query = query.where(
                (SupportDecision.updated_at >= self.updated_since) | followed_up.exists()
            )
        return query


def list_decisions(
    session: Session,
    where: DecisionFilter,
    *,
    page: int = 1,
    per_page: int = 50,
    after: tuple[dt.date, int] | None = None,
    count: bool = True,
) -> tuple[list[dict], int | None]:
    """One page of decisions (newest decision date first, then newest recorded) with their
    derived labels, and how many match (None without ``count``). With ``after`` (a
    decision's ``(decided_on, id)``) the page starts after it, not at an offset."""
    query = where.apply(select(SupportDecision))
    total = None
    if count:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
    if after is not None:
        day, ident = after
        query = query.where(
            (SupportDecision.decided_on < day)
            | ((SupportDecision.decided_on == day) & (SupportDecision.id < ident))
        )
    rows = list(
        session.scalars(
            query.order_by(SupportDecision.decided_on.desc(), SupportDecision.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    labels = _labels_of(session, rows)
    return [decision_dict(row, labels[row.id]) for row in rows], total


# --- follow-ups -------------------------------------------------------------------------------


def followup_dict(row: ExportFollowUp) -> dict:
    out = {"id": row.id, **{name: getattr(row, name) for name in OUTCOME_COLUMNS}}
    out["followup_date"] = _day(row.followup_date)
    out["first_export_date"] = _day(row.first_export_date)
    out["destination_markets"] = list(row.destination_markets or [])
    out["recorded_by"] = row.recorded_by
    out["recorded_at"] = format_time(row.recorded_at)
    out["updated_at"] = format_time(row.updated_at)
    return out


def _same(row: ExportFollowUp, record: dict) -> bool:
    return all(
        getattr(row, name) == record[name]
        or (name == "destination_markets" and list(getattr(row, name) or []) == record[name])
        for name in OUTCOME_COLUMNS
    )


def known_smes(session: Session, sme_ids: Iterable[str]) -> set[str]:
    """Those of ``sme_ids`` the store holds a profile of."""
    wanted = list(dict.fromkeys(sme_ids))
    found: set[str] = set()
    for chunk in chunks(wanted):
        found.update(session.scalars(select(Sme.sme_id).where(Sme.sme_id.in_(chunk))))
    return found


def record_followups(
    session: Session, records: Sequence[dict], *, actor: str, source: str = "form"
) -> tuple[list[dict], int]:
    """Store follow-ups of known SMEs; one identical to a stored follow-up of the same SME
    (every field equal) is not stored twice, so importing a corrected file again adds only
    what is new. Returns the stored follow-ups and how many were already there.

    Raises ``LookupError`` if an SME is unknown.
    """
    records = [outcome_record(r) for r in records]
    unknown = sorted(
        {r["sme_id"] for r in records} - known_smes(session, (r["sme_id"] for r in records))
    )
    if unknown:
        raise LookupError(f"unknown SME(s): {', '.join(unknown[:10])}")
    existing: dict[str, list[ExportFollowUp]] = {}
    for chunk in chunks(sorted({r["sme_id"] for r in records})):
        for row in session.scalars(select(ExportFollowUp).where(ExportFollowUp.sme_id.in_(chunk))):
            existing.setdefault(row.sme_id, []).append(row)
    now = utcnow()
    stored, repeated = [], 0
    for record in records:
        if any(_same(row, record) for row in existing.get(record["sme_id"], [])):
            repeated += 1
            continue
        row = ExportFollowUp(**record, recorded_by=actor, recorded_at=now, updated_at=now)
        session.add(row)
        existing.setdefault(record["sme_id"], []).append(row)
        stored.append(row)
    session.flush()
    for row in stored:
        _audit_followup(session, "followup.record", row, actor, source=source)
    emit_many(session, (("outcome.recorded", _followup_event(row)) for row in stored))
    return [followup_dict(row) for row in stored], repeated


def _followup_event(row: ExportFollowUp) -> dict:
    """The payload of ``outcome.recorded``: what was learned of the SME's exports; no note."""
    return {
        "followup_id": row.id,
        "sme_id": row.sme_id,
        "followup_date": _day(row.followup_date),
        "exported": row.exported,
        "first_export_date": _day(row.first_export_date),
        "destination_markets": list(row.destination_markets or []),
        "export_value_usd": row.export_value_usd,
        "contracts": row.contracts,
        "learned_via": row.learned_via,
    }


def _audit_followup(
    session: Session, action: str, row: ExportFollowUp, actor: str, *, source: str | None = None
) -> None:
    details: dict[str, Any] = {
        "followup_id": row.id,
        "followup_date": _day(row.followup_date),
        "exported": row.exported,
    }
    if source is not None:
        details["source"] = source
    audit(session, actor=actor, action=action, subject=row.sme_id, details=details)


def get_followup(session: Session, followup_id: int) -> dict | None:
    row = session.get(ExportFollowUp, followup_id)
    return followup_dict(row) if row is not None else None


def update_followup(session: Session, followup_id: int, record: dict, *, actor: str) -> dict | None:
    """Replace a follow-up's fields (its SME stays)."""
    row = session.get(ExportFollowUp, followup_id)
    if row is None:
        return None
    record = outcome_record({**record, "sme_id": row.sme_id})
    for name in OUTCOME_COLUMNS[1:]:
        setattr(row, name, record[name])
    row.updated_at = utcnow()
    session.flush()
    _audit_followup(session, "followup.update", row, actor)
    return followup_dict(row)


def delete_followup(session: Session, followup_id: int, *, actor: str) -> bool:
    row = session.get(ExportFollowUp, followup_id)
    if row is None:
        return False
    _audit_followup(session, "followup.delete", row, actor)
    session.delete(row)
    session.flush()
    return True


def followups_of(session: Session, sme_id: str) -> list[dict]:
    """The SME's follow-ups, oldest follow-up date first."""
    rows = session.scalars(
        select(ExportFollowUp)
        .where(ExportFollowUp.sme_id == sme_id)
        .order_by(ExportFollowUp.followup_date, ExportFollowUp.id)
    )
    return [followup_dict(row) for row in rows]


# --- labels -----------------------------------------------------------------------------------


def _timelines(session: Session, sme_ids: Iterable[str]) -> dict[str, list[dict]]:
    """The follow-ups of each SME as ``derive_label`` reads them."""
    found: dict[str, list[dict]] = {}
    for chunk in chunks(sorted(set(sme_ids))):
        rows = session.execute(
            select(
                ExportFollowUp.id,
                ExportFollowUp.sme_id,
                ExportFollowUp.followup_date,
                ExportFollowUp.exported,
                ExportFollowUp.first_export_date,
            ).where(ExportFollowUp.sme_id.in_(chunk))
        )
        for ident, sme_id, followup_date, exported, first in rows:
            found.setdefault(sme_id, []).append(
                {
                    "id": ident,
                    "followup_date": followup_date,
                    "exported": exported,
                    "first_export_date": first,
                }
            )
    return found


def _labels_of(session: Session, rows: Sequence[SupportDecision]) -> dict[int, Label]:
    timelines = _timelines(session, (row.sme_id for row in rows))
    return {row.id: derive_label(row.decided_on, timelines.get(row.sme_id, [])) for row in rows}


def labelled_decisions(session: Session, where: DecisionFilter) -> list[dict]:
    """Every matching decision with its derived label (``label``: 1, 0 or None), oldest
    first, for the evaluation and for training (``profile``: as scored then)."""
    rows = list(
        session.scalars(
            where.apply(select(SupportDecision)).order_by(
                SupportDecision.decided_on, SupportDecision.id
            )
        )
    )
    labels = _labels_of(session, rows)
    return [
        {
            "id": row.id,
            "sme_id": row.sme_id,
            "decision": row.decision,
            "support_kind": row.support_kind,
            "decided_on": row.decided_on,
            "sector": row.sector,
            "score": row.score,
            "tier": row.tier,
            "ml_probability": row.ml_probability,
            "model_version": row.model_version,
            "label": labels[row.id].value,
            "label_basis": labels[row.id].basis,
            "profile": row.profile,
        }
        for row in rows
    ]


# --- the follow-up worklist -------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def followup_worklist(
    session: Session, *, today: dt.date, months: Sequence[int] = WORKLIST_MONTHS
) -> list[dict]:
    """Supported SMEs due a follow-up: for each support decision whose label is still
    unknown, the latest milestone (3, 6 or 12 months after it) that has passed with no
    follow-up dated on or after it. Most overdue first."""
    rows = list(
        session.scalars(
            select(SupportDecision)
            .where(SupportDecision.decision == "support")
            .order_by(SupportDecision.decided_on, SupportDecision.id)
        )
    )
    timelines = _timelines(session, (row.sme_id for row in rows))
    names = (
        dict(
            session.execute(
                select(Sme.sme_id, Sme.name).where(Sme.sme_id.in_({row.sme_id for row in rows}))
            ).all()
        )
        if rows
        else {}
    )
    due = []
    for row in rows:
        followups = timelines.get(row.sme_id, [])
        if derive_label(row.decided_on, followups).known:
            continue
        passed = [m for m in months if add_months(row.decided_on, m) <= today]
        if not passed:
            continue
        milestone = max(passed)
        due_on = add_months(row.decided_on, milestone)
        if any(f["followup_date"] >= due_on for f in followups):
            continue
        last = max((f["followup_date"] for f in followups), default=None)
        due.append(
            {
                "sme_id": row.sme_id,
                "name": names.get(row.sme_id),
                "decision_id": row.id,
                "support_kind": row.support_kind,
                "decided_on": _day(row.decided_on),
                "months": milestone,
                "due_on": _day(due_on),
                "days_overdue": (today - due_on).days,
                "last_followup_date": _day(last),
            }
        )
    due.sort(key=lambda item: (-item["days_overdue"], item["sme_id"], item["decision_id"]))
    return due


# --- erasure and access -----------------------------------------------------------------------


def fold_outcomes_into_aggregates(session: Session, sme_id: str) -> None:
    """Add the SME's decisions to ``outcome_aggregates`` (by month, kind, tier, label)."""
    rows = list(session.scalars(select(SupportDecision).where(SupportDecision.sme_id == sme_id)))
    labels = _labels_of(session, rows)
    totals: dict[tuple, int] = {}
    for row in rows:
        value = labels[row.id].value
        key = (
            row.decided_on.replace(day=1),
            row.decision,
            row.support_kind or "",
            row.tier,
            "unknown" if value is None else str(value),
        )
        totals[key] = totals.get(key, 0) + 1
    table = OutcomeAggregate.__table__
    for (month, decision, kind, tier, label), count in totals.items():
        insert = upsert(session, table).values(
            month=month, decision=decision, support_kind=kind, tier=tier, label=label, count=count
        )
        session.execute(
            insert.on_conflict_do_update(
                index_elements=[c.name for c in table.primary_key],
                set_={"count": table.c.count + insert.excluded.count},
            )
        )


def erase_outcomes(session: Session, sme_id: str) -> None:
    """Fold the SME's decisions into the aggregates, then delete its decisions and
    follow-ups (before its scores, which decisions refer to)."""
    fold_outcomes_into_aggregates(session, sme_id)
    for model in (SupportDecision, ExportFollowUp):
        session.execute(delete(model).where(model.sme_id == sme_id))


def outcomes_held(session: Session, sme_id: str) -> dict:
    """The SME's decisions (with the profile each rested on and its label) and follow-ups,
    for the data subject's access export."""
    rows = list(
        session.scalars(
            select(SupportDecision)
            .where(SupportDecision.sme_id == sme_id)
            .order_by(SupportDecision.id)
        )
    )
    labels = _labels_of(session, rows)
    return {
        "decisions": [
            {**decision_dict(row, labels[row.id]), "profile": dict(row.profile)} for row in rows
        ],
        "followups": followups_of(session, sme_id),
    }


def outcome_aggregates(session: Session) -> list[dict]:
    """The anonymous counts left of erased SMEs' decisions."""
    rows = session.scalars(
        select(OutcomeAggregate).order_by(
            OutcomeAggregate.month,
            OutcomeAggregate.decision,
            OutcomeAggregate.support_kind,
            OutcomeAggregate.tier,
            OutcomeAggregate.label,
        )
    )
    return [
        {
            "month": _day(row.month),
            "decision": row.decision,
            "support_kind": row.support_kind or None,
            "tier": row.tier,
            "label": row.label,
            "count": row.count,
        }
        for row in rows
    ]
