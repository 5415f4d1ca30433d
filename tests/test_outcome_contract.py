"""The outcome contract: follow-up cells read the way an Indonesian office writes them, every
problem of a row named at once, and the checks that span fields."""

from __future__ import annotations

import datetime as dt

import pytest

from scoring.contract.outcomes import (
    DECISIONS,
    LEARNED_VIA,
    SUPPORT_KINDS,
    decision_problems,
    outcome_labels,
    parse_date,
    read_outcome,
)

TODAY = dt.date(2026, 12, 3)


def good(**changes) -> dict:
    return {
        "sme_id": "BDG-001",
        "followup_date": "2026-06-16",
        "exported": "Ya",
        "learned_via": "phone_call",
        **changes,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-14", dt.date(2026, 3, 14)),
        ("2026-03-14 00:00:00", dt.date(2026, 3, 14)),
        ("14/03/2026", dt.date(2026, 3, 14)),
        ("4/3/2026", dt.date(2026, 3, 4)),  # day first, as Indonesian offices write dates
        ("14-03-2026", dt.date(2026, 3, 14)),
        ("14.03.2026", dt.date(2026, 3, 14)),
        ("14 Maret 2026", dt.date(2026, 3, 14)),
        ("14 March 2026", dt.date(2026, 3, 14)),
        ("1 Agt 2026", dt.date(2026, 8, 1)),
        ("17 Agustus 2026", dt.date(2026, 8, 17)),
        ("5 Des. 2025", dt.date(2025, 12, 5)),
        (" 14/03/2026 ", dt.date(2026, 3, 14)),
        (dt.datetime(2026, 3, 14), dt.date(2026, 3, 14)),  # an Excel date cell
        (dt.date(2026, 3, 14), dt.date(2026, 3, 14)),
    ],
)
def test_dates_as_offices_write_them(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31/02/2026",
        "2026/03/14",
        "14 Foo 2026",
        "March 2026",
        "46000",
        dt.datetime(2026, 3, 14, 9),
        3,
    ],
)
def test_what_is_not_a_date(text):
    with pytest.raises(ValueError, match="Not a valid date"):
        parse_date(text)


def test_a_row_in_office_spelling_reads_to_contract_values():
    record, errors = read_outcome(
        good(
            exported="Ya",
            learned_via="Data kepabeanan (PEB)",
            first_export_date="01/02/2026",
            destination_markets="Jepang; Uni Eropa, us",
            export_value_usd="12.500,50",
            contracts="2",
            note="  pembeli kedua menyusul  ",
        ),
        today=TODAY,
        decimal="auto",
    )
    assert errors == []
    assert record == {
        "sme_id": "BDG-001",
        "followup_date": dt.date(2026, 6, 16),
        "exported": True,
        "learned_via": "customs_peb",
        "first_export_date": dt.date(2026, 2, 1),
        "destination_markets": ["JP", "EU", "US"],
        "export_value_usd": 12500.5,
        "contracts": 2.0,
        "note": "pembeli kedua menyusul",
    }


def test_every_problem_of_a_row_is_named_at_once():
    record, errors = read_outcome(
        {
            "sme_id": "",
            "followup_date": "31/02/2026",
            "exported": "mungkin",
            "learned_via": "surat",
            "destination_markets": "Mars",
            "export_value_usd": "banyak",
            "contracts": "1,5",
            "note": "x" * 1001,
        },
        today=TODAY,
        decimal=",",
    )
    assert errors == [
        {"field": "sme_id", "message": "Missing data for required field."},
        {
            "field": "followup_date",
            "message": "Not a valid date; write it as 2026-03-14 or 14/03/2026.",
        },
        {"field": "exported", "message": "Not a valid boolean."},
        {
            "field": "learned_via",
            "message": "Unknown value 'surat'. Must be one of: "
            "phone_call, visit, customs_peb, self_report.",
        },
        {
            "field": "destination_markets",
            "message": "Unknown value 'Mars'. Must be one of: "
            "EU, US, JP, CN, GCC, ASEAN, AU, OTHER.",
        },
        {"field": "export_value_usd", "message": "Not a valid number."},
        {"field": "note", "message": "Longer than maximum length 1000."},
        {"field": "contracts", "message": "Must be a whole number."},
    ]
    assert record["sme_id"] is None


def test_checks_across_fields():
    _, errors = read_outcome(
        good(
            followup_date="2026-06-16",
            first_export_date="2026-07-01",
            export_value_usd="-5",
            contracts="-1",
        ),
        today=TODAY,
    )
    assert errors == [
        {"field": "first_export_date", "message": "Must not be after the follow-up date."},
        {"field": "export_value_usd", "message": "Must be at least 0."},
        {"field": "contracts", "message": "Must be at least 0."},
    ]
    _, errors = read_outcome(
        good(exported="Tidak", first_export_date="2026-01-01", destination_markets="JP"),
        today=TODAY,
    )
    assert errors == [
        {"field": "first_export_date", "message": "Must be empty when exported is no."},
        {"field": "destination_markets", "message": "Must be empty when exported is no."},
    ]
    _, errors = read_outcome(good(followup_date="2026-12-04"), today=TODAY)
    assert errors == [{"field": "followup_date", "message": "Must not be in the future."}]
    _, errors = read_outcome(good(followup_date="1999-12-31"), today=TODAY)
    assert errors == [{"field": "followup_date", "message": "Must not be before 2000-01-01."}]


def test_blank_and_dash_cells_are_empty():
    record, errors = read_outcome(
        good(first_export_date="-", export_value_usd=" ", contracts=None, note="—"), today=TODAY
    )
    assert errors == []
    assert (record["first_export_date"], record["export_value_usd"], record["note"]) == (
        None,
        None,
        None,
    )


def test_values_have_names_in_both_languages():
    for lang in ("id", "en"):
        labels = outcome_labels(lang)
        assert tuple(labels["decision"]) == DECISIONS
        assert tuple(labels["support_kind"]) == SUPPORT_KINDS
        assert tuple(labels["learned_via"]) == LEARNED_VIA
    for name in ("Telepon", "Phone call", "phone-call", "KUNJUNGAN"):
        _, errors = read_outcome(good(learned_via=name), today=TODAY)
        assert errors == [], name


@pytest.mark.parametrize(
    ("record", "errors"),
    [
        ({"decision": "support", "support_kind": "trade_fair", "decided_on": TODAY}, []),
        (
            {"decision": "support", "decided_on": TODAY},
            [{"field": "support_kind", "message": "Required when decision is support."}],
        ),
        (
            {"decision": "support", "support_kind": "other", "support_other": " "},
            [{"field": "support_other", "message": "Required when support_kind is other."}],
        ),
        (
            {"decision": "no_support", "reason": ""},
            [
                {
                    "field": "reason",
                    "message": "Required when decision is no_support: say why.",
                }
            ],
        ),
        (
            {"decision": "no_support", "reason": "no place left", "support_kind": "trade_fair"},
            [{"field": "support_kind", "message": "Must be empty when decision is no_support."}],
        ),
        (
            {
                "decision": "support",
                "support_kind": "visit",
                "decided_on": TODAY + dt.timedelta(days=1),
            },
            [{"field": "decided_on", "message": "Must not be in the future."}],
        ),
    ],
)
def test_decision_checks(record, errors):
    assert decision_problems(record, today=TODAY) == errors
