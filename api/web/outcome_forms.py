"""The values of the outcome pages: read from their forms and worded in the page's language.

A decision or follow-up typed on a form is checked by the outcome contract
(``scoring.contract.outcomes``), whose English messages are worded here in the page's
language; numbers are read the way the page's language writes them. Used by the SME page's
forms (``api.web.outcomes``), the shortlist's decisions (``api.web.outcome_shortlist``) and
the import (``api.web.outcome_import``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from werkzeug.datastructures import MultiDict

from api.services.outcome_files import UNKNOWN_SME
from api.web.auth import current_user
from api.web.i18n import WIB, current_language, error_message, form_value, local_time, number, t
from scoring.contract import outcomes as C
from scoring.contract.cells import number_from_text
from scoring.contract.fields import MARKETS
from scoring.contract.messages import MISSING, TOO_LONG, UNKNOWN_VALUE

#: "Who decided" is a name or a committee, not a paragraph.
DECIDED_BY_MAX = 200

DECISION_FIELDS = (
    "decision",
    "support_kind",
    "support_other",
    "target_market",
    "decided_on",
    "decided_by",
    "reason",
)
FOLLOWUP_FIELDS = C.OUTCOME_COLUMNS[1:]

#: Catalogue keys of the outcome contract's own messages (the others are the profile
#: contract's, worded by ``i18n.error_message``).
OUTCOME_MESSAGES = {
    C.NOT_A_DATE: "outcomes.error.not_a_date",
    C.IN_THE_FUTURE: "outcomes.error.in_the_future",
    C.TOO_EARLY: "outcomes.error.too_early",
    C.EXPORT_AFTER_FOLLOWUP: "outcomes.error.export_after_followup",
    C.ONLY_WHEN_EXPORTED: "outcomes.error.only_when_exported",
    C.REQUIRED_FOR_OTHER: "outcomes.error.required_for_other",
    C.REQUIRED_FOR_SUPPORT: "outcomes.error.required_for_support",
    C.REQUIRED_FOR_NO_SUPPORT: "outcomes.error.required_for_no_support",
    C.ONLY_FOR_SUPPORT: "outcomes.error.only_for_support",
    UNKNOWN_SME: "outcomes.error.unknown_sme",
}


# --- wording --------------------------------------------------------------------------------


def today_wib() -> dt.date:
    """Today in Western Indonesian Time: the office's day, whatever the server's zone."""
    return dt.datetime.now(WIB).date()


def local_date(value: str | dt.date | None) -> str:
    """A day as the page's language writes it (``14 Mar 2026``, ``14 Agu 2026``); a dash
    for none. The month names are those of ``i18n.local_time``."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    moment = dt.datetime.combine(value, dt.time(12), tzinfo=WIB)
    return local_time(moment).rsplit(" ", 2)[0]


def outcome_name(section: str, value: str | None) -> str:
    """The name of a decision, support kind or way of learning in the page's language."""
    if value is None or value == "":
        return "–"
    return C.outcome_labels(current_language())[section].get(value, value)


def outcome_message(message: str) -> str:
    """A message of the outcome contract (or of the outcome file reader) in the page's
    language; as is if not recognised."""
    key = OUTCOME_MESSAGES.get(message)
    if key is not None:
        return t(key)
    return error_message(message)


def outcome_amount(value: float | None) -> str:
    """An amount (an export value) grouped as the page's language writes it, with cents
    only when it has them."""
    if value is None:
        return number(None)
    return number(value, 0 if float(value).is_integer() else 2)


# --- reading the forms ----------------------------------------------------------------------


def _typed_number(text: str) -> float | None:
    """A number as staff type it: the Indonesian way on the Indonesian page, the English
    way on the English one, else whichever way reads it."""
    marks = (",", ".") if current_language() == "id" else (".", ",")
    for mark in marks:
        number = number_from_text(text, mark)
        if number is not None:
            return number
    return None


def add_error(errors: dict[str, list[str]], field: str, message: str) -> None:
    """Note a problem of ``field``, worded in the page's language."""
    errors.setdefault(field, []).append(outcome_message(message))


def followup_values(form: MultiDict) -> dict[str, Any]:
    """The follow-up form's values as typed."""
    values: dict[str, Any] = {name: form.get(name, "").strip() for name in FOLLOWUP_FIELDS}
    values["destination_markets"] = form.getlist("destination_markets")
    return values


def read_followup(
    sme_id: str, values: dict[str, Any], *, today: dt.date
) -> tuple[dict, dict[str, list[str]]]:
    """A follow-up from the form's values and its problems per field (worded)."""
    row: dict[str, Any] = {**values, "sme_id": sme_id}
    row["exported"] = {"yes": True, "no": False}.get(values["exported"], values["exported"])
    for name in ("export_value_usd", "contracts"):
        if values[name]:
            number = _typed_number(values[name])
            if number is not None:
                row[name] = number
    record, problems = C.read_outcome(row, today=today)
    errors: dict[str, list[str]] = {}
    for problem in problems:
        add_error(errors, problem["field"], problem["message"])
    return record, errors


def followup_form_values(followup: dict) -> dict[str, Any]:
    """A stored follow-up as its form shows it."""
    values = {name: form_value(followup.get(name)) for name in FOLLOWUP_FIELDS}
    values["exported"] = "yes" if followup["exported"] else "no"
    values["destination_markets"] = list(followup.get("destination_markets") or [])
    return values


def new_followup_values() -> dict[str, Any]:
    return {
        **dict.fromkeys(FOLLOWUP_FIELDS, ""),
        "followup_date": today_wib().isoformat(),
        "destination_markets": [],
    }


def read_text(
    values: dict, name: str, errors: dict, *, limit: int, required: bool = False
) -> str | None:
    """A text field of at most ``limit`` characters; None if empty or wrong."""
    text = values.get(name, "")
    if not text:
        if required:
            add_error(errors, name, MISSING)
        return None
    if len(text) > limit:
        add_error(errors, name, TOO_LONG.format(max=limit))
        return None
    return text


def read_choice(values: dict, name: str, choices, errors: dict) -> str | None:
    """One of ``choices``; None if empty or unknown."""
    value = values.get(name, "")
    if not value:
        return None
    if value not in choices:
        add_error(errors, name, UNKNOWN_VALUE.format(input=value, choices=", ".join(choices)))
        return None
    return value


def read_day(values: dict, name: str, errors: dict, *, today: dt.date) -> dt.date | None:
    """A required day, checked by the outcome contract; None if missing or wrong."""
    text = values.get(name, "")
    if not text:
        add_error(errors, name, MISSING)
        return None
    try:
        day = C.parse_date(text)
    except ValueError as exc:
        add_error(errors, name, str(exc))
        return None
    for problem in C.check_date(name, day, today=today):
        add_error(errors, name, problem["message"])
    return day


def decision_values(form: MultiDict) -> dict[str, str]:
    """The decision form's values as typed."""
    return {name: form.get(name, "").strip() for name in DECISION_FIELDS}


def read_decision(values: dict[str, str], *, today: dt.date) -> tuple[dict, dict[str, list[str]]]:
    """A decision from the form's values and its problems per field (worded)."""
    errors: dict[str, list[str]] = {}
    if not values.get("decision"):
        add_error(errors, "decision", MISSING)
    record = {
        "decision": read_choice(values, "decision", C.DECISIONS, errors),
        "support_kind": read_choice(values, "support_kind", C.SUPPORT_KINDS, errors),
        "support_other": read_text(values, "support_other", errors, limit=C.TEXT_MAX),
        "target_market": read_choice(values, "target_market", MARKETS, errors),
        "decided_on": read_day(values, "decided_on", errors, today=today),
        "decided_by": read_text(values, "decided_by", errors, limit=DECIDED_BY_MAX, required=True),
        "reason": read_text(values, "reason", errors, limit=C.TEXT_MAX),
    }
    for problem in C.decision_problems(record, today=today):
        if problem["field"] not in errors:
            add_error(errors, problem["field"], problem["message"])
    return record, errors


def decision_form_values(decision: dict) -> dict[str, str]:
    """A stored decision as its form shows it."""
    return {name: form_value(decision.get(name)) for name in DECISION_FIELDS}


def new_decision_values() -> dict[str, str]:
    user = current_user()
    return {
        **dict.fromkeys(DECISION_FIELDS, ""),
        "decided_on": today_wib().isoformat(),
        "decided_by": user.username if user is not None else "",
    }
