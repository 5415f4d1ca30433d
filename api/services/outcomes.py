"""After the programme: the evaluation of stored decisions and the training table built
from them, shared by the API, the pages and the command line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from api import store
from scoring.contract import fields as F
from scoring.contract.validate import ValidatedBatch, validate_records
from scoring.outcomes.evaluation import evaluate


def evaluation(
    session: Session,
    where: store.DecisionFilter,
    *,
    tiers: list[str],
    decision: str | None = "support",
    minimum: int | None = None,
) -> dict:
    """``scoring.outcomes.evaluation.evaluate`` over the stored decisions ``where`` selects
    (its ``decision`` is ignored: ``decision`` says which kind the figures are about, and
    the comparison needs both), with the filter echoed back."""
    rows = store.labelled_decisions(session, _without_decision(where))
    kwargs = {} if minimum is None else {"minimum": minimum}
    result = evaluate(rows, tiers=tiers, decision=decision, **kwargs)
    result["filters"] = {
        "cohort": where.cohort,
        "sector": where.sector,
        "support_kind": where.support_kind,
        "decided_from": where.decided_from.isoformat() if where.decided_from else None,
        "decided_until": where.decided_until.isoformat() if where.decided_until else None,
    }
    return result


def _without_decision(where: store.DecisionFilter) -> store.DecisionFilter:
    return store.DecisionFilter(
        sme_id=where.sme_id,
        cohort=where.cohort,
        sector=where.sector,
        support_kind=where.support_kind,
        decided_from=where.decided_from,
        decided_until=where.decided_until,
    )


@dataclass
class OutcomeTraining:
    """Labelled profiles from the office's decisions, and what was left out and why."""

    batch: ValidatedBatch
    decisions: int
    censored: int
    period: tuple[dt.date, dt.date] | None
    invalid: list[dict] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.batch.scored

    def summary(self) -> dict:
        """What the model card and the manifest say of these data."""
        return {
            "real_outcomes": self.rows,
            "positives": int(np.sum(self.batch.labels)) if self.rows else 0,
            "decisions": self.decisions,
            "censored_left_out": self.censored,
            "invalid_left_out": len(self.invalid),
            "period": (
                {"from": self.period[0].isoformat(), "until": self.period[1].isoformat()}
                if self.period
                else None
            ),
        }


def training_from_outcomes(
    session: Session, where: store.DecisionFilter | None = None
) -> OutcomeTraining:
    """One training row per decision with a known label: the profile as it was scored when
    the decision was made (no personal field is stored with it) and the derived label.
    Censored decisions are left out and counted. Rows are named ``d<decision id>``, so two
    decisions about one SME are two rows and no row carries the SME's id."""
    rows = store.labelled_decisions(session, where or store.DecisionFilter())
    known = [r for r in rows if r["label"] is not None]
    records = [
        {
            **{name: r["profile"].get(name) for name in F.PROFILE_COLUMNS},
            "sme_id": f"d{r['id']}",
            F.LABEL: bool(r["label"]),
        }
        for r in known
    ]
    batch = validate_records(records, require_label=True, source="stored decisions")
    period = None
    if known:
        days = [r["decided_on"] for r in known]
        period = (min(days), max(days))
    return OutcomeTraining(
        batch=batch,
        decisions=len(rows),
        censored=len(rows) - len(known),
        period=period,
        invalid=list(batch.errors),
    )


def training_frame(training: OutcomeTraining) -> pd.DataFrame:
    """The labelled profiles as a frame in the training file's columns."""
    frame = training.batch.profiles.copy()
    frame[F.LABEL] = np.asarray(training.batch.labels, dtype=bool)
    return frame
