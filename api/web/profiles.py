"""The profile form (enter or correct one SME and score it) and the score page of one SME.

The form is checked by the contract's own validator (``scoring.contract.schema.validate_profile``,
as the API's ``POST /api/v1/scores``), so web and API give the same verdict; errors are
shown beside their fields with the entered values kept. Scoring goes through
``api.services.ingest`` and the store like the API. Personal fields are shown only to officers
and admins, and every view of one SME is audited.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from werkzeug.datastructures import MultiDict

from api import store
from api.db import get_session
from api.services import ingest
from api.services.scorer import get_scorer
from api.services.sector_averages import sector_averages
from api.web import outcomes
from api.web.auth import actor, current_user, role_required
from api.web.i18n import (
    LANGUAGES,
    current_language,
    decimal,
    error_message,
    form_value,
    number,
    t,
)
from scoring.contract.cells import number_from_text
from scoring.contract.fields import FIELD_BY_NAME, PERSONAL_COLUMNS, Kind
from scoring.contract.schema import validate_profile
from scoring.errors import ProfileValidationError

bp = Blueprint("web_profiles", __name__)

#: The form's sections, in the order an officer goes through an SME's papers.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "business",
        (
            "sme_id",
            "name",
            "sector",
            "hs_code",
            "legal_form",
            "year_established",
            "employees",
            "annual_revenue_idr",
        ),
    ),
    ("legal", ("has_nib", "has_npwp", "trademark_registered")),
    (
        "products",
        (
            "certifications",
            "has_quality_control",
            "export_packaging",
            "monthly_capacity_units",
            "capacity_utilization",
            "can_supply_continuously",
        ),
    ),
    (
        "export",
        (
            "has_exported",
            "export_years",
            "export_value_usd_last_year",
            "export_markets",
            "target_markets",
            "foreign_buyer_contacts",
            "trade_fairs_last_3y",
            "knows_incoterms",
            "has_export_pricing",
            "has_logistics_partner",
        ),
    ),
    (
        "people_digital",
        (
            "english_capable_staff",
            "completed_export_training",
            "has_website",
            "has_english_catalog",
            "on_b2b_marketplace",
            "social_media_active",
        ),
    ),
    ("finance", ("access_to_finance",)),
    ("contact", ("owner_name", "owner_gender", "contact_phone", "contact_email", "district")),
)
MAX_COHORT_LENGTH = 100
#: Below this many SMEs, the score page says its sector average is not yet meaningful.
MIN_SECTOR_COUNT = 5
#: Roles that may see an SME's personal fields (owner, contacts, district).
PERSONAL_DATA_ROLES = ("officer", "admin")


def may_see_personal_data() -> bool:
    user = current_user()
    return user is not None and user.role in PERSONAL_DATA_ROLES


def _blank(value: Any) -> bool:
    return value is None or value != value or value == ""


def form_sections() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The form's sections for this user: without the owner and contact section for roles
    that may not see personal data."""
    if may_see_personal_data():
        return SECTIONS
    return tuple((name, fields) for name, fields in SECTIONS if name != "contact")


def values_from_form(form: MultiDict) -> dict[str, Any]:
    """The form's values as entered: every yes/no answered, lists as lists, text as typed;
    only the fields of the sections this user sees."""
    values: dict[str, Any] = {}
    for _, names in form_sections():
        for name in names:
            kind = FIELD_BY_NAME[name].kind
            if kind is Kind.BOOL:
                values[name] = form.get(name) == "true"
            elif kind is Kind.ENUM_LIST:
                values[name] = form.getlist(name)
            else:
                values[name] = form.get(name, "").strip()
    return values


def _number(text: str) -> float | None:
    """A number as an officer types it: Indonesian ("1.500.000,50") on the Indonesian page,
    English ("1,500,000.50") on the English one, else whichever way reads it."""
    marks = (",", ".") if current_language() == "id" else (".", ",")
    for mark in marks:
        number = number_from_text(text, mark)
        if number is not None:
            return number
    return None


def profile_from_form(values: dict[str, Any]) -> dict[str, Any]:
    """The entered values as a JSON profile; numbers that cannot be read stay as typed, so
    the validator names them."""
    profile = dict(values)
    for name, value in values.items():
        if FIELD_BY_NAME[name].kind in (Kind.INT, Kind.FLOAT) and value:
            number = _number(value)
            if number is not None:
                profile[name] = number
    return profile


def _form_page(values: dict, errors: dict[str, list[str]], cohort: str, status: int = 200):
    return render_template(
        "profile_form.html",
        sections=form_sections(),
        fields=FIELD_BY_NAME,
        values=values,
        errors=errors,
        cohort=cohort,
        # The header's language buttons submit this form, so a switch keeps what was typed.
        language_form="profile-form",
    ), status


def _switch_language(values: dict[str, Any], lang: str) -> dict[str, Any]:
    """Switch the pages to ``lang`` (session and the user's preference, as the header's
    language form does) and return the typed values for the page in ``lang``: numbers are
    rewritten the way ``lang`` writes them, anything unreadable stays as typed."""
    numbers = {
        name: _number(value)
        for name, value in values.items()
        if FIELD_BY_NAME[name].kind in (Kind.INT, Kind.FLOAT) and value
    }
    session["lang"] = lang
    user = current_user()
    if user is not None:
        db = get_session()
        store.set_user_language(db, user.username, lang)
        db.commit()
    return {
        **values,
        **{name: form_value(n) for name, n in numbers.items() if n is not None},
    }


@bp.route("/profiles/new", methods=["GET", "POST"])
@role_required("officer")
def new_profile():
    if request.method == "GET":
        values: dict[str, Any] = {}
        source = request.args.get("from")
        if source:
            sme = store.get_sme(get_session(), source)
            if sme is not None:
                hidden = () if may_see_personal_data() else PERSONAL_COLUMNS
                values = {k: v for k, v in sme["profile"].items() if k not in hidden}
        return _form_page(values, {}, request.args.get("cohort", ""))
    values = values_from_form(request.form)
    cohort = request.form.get("cohort", "").strip()
    if request.form.get("lang") in LANGUAGES:  # a language button: re-show, do not score
        return _form_page(_switch_language(values, request.form["lang"]), {}, cohort)
    errors: dict[str, list[str]] = {}
    if len(cohort) > MAX_COHORT_LENGTH:
        errors["cohort"] = [error_message(f"Longer than maximum length {MAX_COHORT_LENGTH}.")]
    try:
        batch = validate_profile(profile_from_form(values))
    except ProfileValidationError as exc:
        for error in exc.errors:
            errors.setdefault(error["field"], []).append(error_message(error["message"]))
    if errors:
        return _form_page(values, errors, cohort, 422)
    scored = ingest.score(batch, get_scorer(), lang=current_language())
    # Personal fields are hidden from roles that may not see them: what such a user posts
    # never changes them (the stored values are kept). An officer's blank field clears it.
    if may_see_personal_data():
        given = batch.personal.iloc[0]
        scored.personal[0] = {
            name: None if _blank(given[name]) else given[name] for name in PERSONAL_COLUMNS
        }
    else:
        scored.personal[0] = {}
    session = get_session()
    ingest.store_scored(session, scored, cohort=cohort or None, batch_id=None, actor=actor())
    session.commit()
    return redirect(url_for("web_profiles.sme", sme_id=scored.records[0]["sme_id"]))


#: Fields that hold a calendar year.
YEAR_FIELDS = frozenset({"year_established"})


def _shown_value(name: str, value: Any) -> str:
    """A profile value as the score page words it."""
    kind = FIELD_BY_NAME[name].kind
    if kind is Kind.BOOL:
        return t("common.yes") if value else t("common.no")
    if value is None or value == "":
        return "–"
    if kind is Kind.ENUM:
        return t(f"{name}.{value}")
    if kind is Kind.ENUM_LIST:
        return str(len(value))
    if name in YEAR_FIELDS:  # a year is written without a thousands separator
        return str(int(value))
    if kind in (Kind.INT, Kind.FLOAT) and isinstance(value, int | float):
        return number(value, 0 if float(value).is_integer() else 2)
    return str(value)


def explain_reasons(record: dict, profile: dict) -> list[dict]:
    """The model's main factors in plain words: ``{"text", "up"}``, each naming the
    SME's own value of the factor and how many percentage points it moves the chance."""
    out = []
    for reason in record["reasons"]:
        feature = reason["feature"]
        name, _, certificate = feature.partition(":")
        if certificate:
            factor = t("sme.reason_certificate", certificate=certificate)
            value = t("common.yes") if certificate in (profile.get(name) or []) else t("common.no")
        else:
            factor = t(f"field.{name}.label")
            value = _shown_value(name, profile.get(name))
        up = reason["effect"] > 0
        points = decimal(abs(reason["effect"]) * 100)
        key = "sme.reason_up" if up else "sme.reason_down"
        out.append({"text": t(key, factor=factor, value=value, points=points), "up": up})
    return out


@bp.route("/smes/<sme_id>")
@role_required("officer")
def sme(sme_id: str):
    session = get_session()
    found = store.get_sme(session, sme_id)
    if found is None or found["latest_score"] is None:
        return render_template("errors/404.html"), 404
    record = found["latest_score"]
    store.audit(session, actor=actor(), action="view", subject=sme_id)
    session.commit()
    profile = found["profile"]
    history = store.score_history(session, sme_id) or []
    averages, sector_count = sector_averages(session, profile["sector"])
    personal = None
    if may_see_personal_data():
        personal = {name: profile[name] for name in PERSONAL_COLUMNS}
    return render_template(
        "sme.html",
        sme=found,
        profile=profile,
        record=record,
        history=history,
        averages=averages,
        sector_count=sector_count,
        min_sector_count=MIN_SECTOR_COUNT,
        personal=personal,
        ruleset=get_scorer().ruleset,
        reasons=explain_reasons(record, profile),
        outcomes=outcomes.sme_section(session, sme_id),
    )
