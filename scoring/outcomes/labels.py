"""``exported_within_12m`` of a support decision, derived from the SME's follow-ups.

The rule (docs/governance.md, "How an outcome becomes a label"), with ``D`` the decision
date and the window its 365 days after it:

- Only follow-ups dated on or after ``D`` count; they are taken in the order of their
  follow-up dates (two on the same day: the one recorded later). **The latest stands**:
  it corrects what earlier ones said.
- The latest says the SME exported, with a first export date ``E``: 1 if ``E`` is at most
  365 days after ``D`` (an ``E`` before ``D`` counts as day 0), else 0 (its first export
  came after the window). So an export reported late with an earlier date counts.
- The latest says the SME exported, without a date: 1 if the follow-up itself is within
  the window; else the earlier follow-ups date it: 1 if one of them, within the window,
  already reported an export; 0 if one of them, on or after day 365, reported none;
  otherwise unknown.
- The latest says the SME has not exported: 0 if it is on or after day 365, else unknown.
- No follow-up since ``D``: unknown.

Unknown is **censored**: the year is not over or nobody asked. It is never counted as 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

WINDOW_DAYS = 365

#: Why a label is what it is, in words the governance page and the API show.
EXPORTED_IN_WINDOW = "exported_in_window"
EXPORTED_AFTER_WINDOW = "exported_after_window"
NO_EXPORT_AFTER_WINDOW = "no_export_at_day_365"
NO_FOLLOWUP = "no_followup"
WINDOW_OPEN = "window_open"


@dataclass(frozen=True)
class Label:
    """A decision's derived label: 1, 0 or None (censored), why, and from which follow-up."""

    value: int | None
    basis: str
    followup_id: int | None = None

    @property
    def known(self) -> bool:
        return self.value is not None


def derive_label(decided_on: dt.date, followups: Iterable[Mapping[str, Any]]) -> Label:
    """The label of a decision made on ``decided_on``, from the SME's follow-ups.

    Each follow-up needs ``followup_date``, ``exported`` and ``first_export_date`` (dates
    as ``datetime.date``) and may carry ``id`` (its recording order, which breaks ties).
    """
    since = [f for f in followups if f["followup_date"] >= decided_on]
    if not since:
        return Label(None, NO_FOLLOWUP)
    since.sort(key=lambda f: (f["followup_date"], f.get("id") or 0))
    end = decided_on + dt.timedelta(days=WINDOW_DAYS)
    latest = since[-1]
    ident = latest.get("id")
    if latest["exported"]:
        first = latest.get("first_export_date")
        if first is not None:
            inside = first <= end
            return Label(
                int(inside), EXPORTED_IN_WINDOW if inside else EXPORTED_AFTER_WINDOW, ident
            )
        if latest["followup_date"] <= end:
            return Label(1, EXPORTED_IN_WINDOW, ident)
        for earlier in reversed(since[:-1]):
            if earlier["exported"] and _export_day(earlier) <= end:
                return Label(1, EXPORTED_IN_WINDOW, earlier.get("id"))
            if not earlier["exported"] and earlier["followup_date"] >= end:
                return Label(0, EXPORTED_AFTER_WINDOW, earlier.get("id"))
        return Label(None, WINDOW_OPEN, ident)
    if latest["followup_date"] >= end:
        return Label(0, NO_EXPORT_AFTER_WINDOW, ident)
    return Label(None, WINDOW_OPEN, ident)


def _export_day(followup: Mapping[str, Any]) -> dt.date:
    """The latest day by which a follow-up that reports an export says it happened."""
    return followup.get("first_export_date") or followup["followup_date"]
