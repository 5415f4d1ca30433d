"""``exported_within_12m`` derived from follow-ups: crafted timelines around day 365,
censoring never turned into 0, conflicting follow-ups (the later one stands)."""

from __future__ import annotations

import datetime as dt

import pytest

from scoring.outcomes.labels import (
    EXPORTED_AFTER_WINDOW,
    EXPORTED_IN_WINDOW,
    NO_EXPORT_AFTER_WINDOW,
    NO_FOLLOWUP,
    WINDOW_OPEN,
    derive_label,
)

DECIDED = dt.date(2025, 1, 1)


def day(n: int) -> dt.date:
    return DECIDED + dt.timedelta(days=n)


def followup(on: int, exported: bool, first: int | None = None, ident: int | None = None):
    return {
        "id": ident,
        "followup_date": day(on),
        "exported": exported,
        "first_export_date": day(first) if first is not None else None,
    }


@pytest.mark.parametrize(
    ("followups", "value", "basis"),
    [
        # exports around the end of the window, reported a while later
        ([followup(400, True, first=364)], 1, EXPORTED_IN_WINDOW),
        ([followup(400, True, first=365)], 1, EXPORTED_IN_WINDOW),
        ([followup(400, True, first=366)], 0, EXPORTED_AFTER_WINDOW),
        # no export, asked before, at and after day 365
        ([followup(364, False)], None, WINDOW_OPEN),
        ([followup(365, False)], 0, NO_EXPORT_AFTER_WINDOW),
        ([followup(500, False)], 0, NO_EXPORT_AFTER_WINDOW),
        # only a six-month follow-up
        ([followup(182, False)], None, WINDOW_OPEN),
        ([followup(182, True)], 1, EXPORTED_IN_WINDOW),
        ([followup(182, True, first=90)], 1, EXPORTED_IN_WINDOW),
        # nothing since the decision
        ([], None, NO_FOLLOWUP),
        ([followup(-10, True, first=-40)], None, NO_FOLLOWUP),
        # an export that began before the decision counts as day 0
        ([followup(100, True, first=-30)], 1, EXPORTED_IN_WINDOW),
    ],
)
def test_single_timelines(followups, value, basis):
    label = derive_label(DECIDED, followups)
    assert (label.value, label.basis) == (value, basis)
    assert label.known is (value is not None)


def test_a_later_follow_up_without_an_export_overrules_an_earlier_one():
    label = derive_label(
        DECIDED, [followup(180, True, first=100, ident=1), followup(400, False, ident=2)]
    )
    assert (label.value, label.basis, label.followup_id) == (0, NO_EXPORT_AFTER_WINDOW, 2)


def test_a_later_follow_up_inside_the_window_leaves_the_label_open():
    label = derive_label(DECIDED, [followup(90, True, ident=1), followup(180, False, ident=2)])
    assert (label.value, label.basis) == (None, WINDOW_OPEN)


def test_an_export_reported_later_with_an_earlier_date_counts():
    timeline = [followup(370, False, ident=1), followup(500, True, first=300, ident=2)]
    label = derive_label(DECIDED, timeline)
    assert (label.value, label.basis, label.followup_id) == (1, EXPORTED_IN_WINDOW, 2)


def test_order_is_by_follow_up_date_not_by_recording():
    # Recorded in the opposite order: the follow-up dated later still stands.
    timeline = [followup(500, True, first=300, ident=1), followup(370, False, ident=2)]
    assert derive_label(DECIDED, timeline).value == 1


def test_two_follow_ups_on_one_day_the_one_recorded_later_stands():
    same_day = [followup(400, True, first=200, ident=7), followup(400, False, ident=9)]
    assert derive_label(DECIDED, same_day).value == 0
    same_day = [followup(400, False, ident=7), followup(400, True, first=200, ident=9)]
    assert derive_label(DECIDED, same_day).value == 1


@pytest.mark.parametrize(
    ("earlier", "value"),
    [
        ([followup(200, True, ident=1)], 1),  # an export already reported inside the window
        ([followup(200, True, first=150, ident=1)], 1),
        ([followup(370, False, ident=1)], 0),  # none at day 370: the export came later
        ([followup(200, False, ident=1)], None),  # nothing dates it
        ([], None),
    ],
)
def test_an_undated_export_after_the_window_is_dated_by_earlier_follow_ups(earlier, value):
    timeline = [*earlier, followup(450, True, ident=2)]
    assert derive_label(DECIDED, timeline).value == value


def test_the_window_counts_calendar_days_across_a_leap_year():
    decided = dt.date(2027, 3, 1)  # 2028 is a leap year: day 365 is 29 Feb 2028
    on_day_365 = {
        "followup_date": dt.date(2028, 2, 29),
        "exported": False,
        "first_export_date": None,
    }
    assert derive_label(decided, [on_day_365]).value == 0
    on_day_364 = {**on_day_365, "followup_date": dt.date(2028, 2, 28)}
    assert derive_label(decided, [on_day_364]).value is None
