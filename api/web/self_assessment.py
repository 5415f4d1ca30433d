"""The SME's own form: the page behind an invitation's link, ``/self/<token>``, no account.

The SME fills the same profile as the staff form (the same fields, help texts, form macro
and validator, ``scoring.contract.schema.validate_profile``), except its ``sme_id``, which
is the invitation's. Bahasa Indonesia by default (the invitation's language), English with
``?lang=en`` or the switch, which keeps what was typed. *Save* keeps a draft to come back
to through the same link; *Submit* needs the consent to the processing of personal data
(its version and the SHA-256 of the text shown are recorded) and sends the profile to the
review queue. After submitting the SME sees a thank-you page, with its preliminary score
and action plan if the invitation allows it (scored then, not stored).

A token opens only its own invitation's rows. An unknown token gets a 404 page, a revoked,
expired or used-up one a 410 page, both in both languages; requests are rate limited per
link and per client address (429 page with ``Retry-After``). Forms carry the CSRF token,
and the token never reaches a log (``api.http.token_log``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.datastructures import MultiDict

from api.db import get_session
from api.http import token_log
from api.services import self_assessment as service
from api.services.scorer import get_scorer
from api.store import invitations as invitation_store
from api.store.invitations import InvitationClosed, InvitationInfo, SelfAssessmentInfo
from api.web.auth import keyed_digest
from api.web.i18n import (
    EXTENSION,
    LANGUAGES,
    current_language,
    error_message,
    language,
    local_time,
    t,
)
from api.web.profiles import SECTIONS, profile_from_form
from scoring.contract.fields import FIELD_BY_NAME, Kind
from scoring.contract.schema import validate_profile
from scoring.errors import ProfileValidationError

bp = Blueprint("web_self", __name__, url_prefix="/self")

#: The staff form's sections without the ``sme_id``, which the invitation fixes.
SME_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (name, tuple(f for f in fields if f != "sme_id")) for name, fields in SECTIONS
)
#: Longest text kept of one field in a draft (the validator checks the real limits).
DRAFT_TEXT_MAX = 1000
#: The session key that lets this browser see the thank-you page of its submission.
SUBMITTED = "self_submitted"


@bp.record_once
def _set_up(state) -> None:
    service.init_app(state.app)
    token_log.install()


@bp.before_request
def _limit_and_language():
    token = (request.view_args or {}).get("token", "")
    address = keyed_digest(f"address:{request.remote_addr or ''}")
    retry = service.retry_after(token=token, address=address)
    if retry is not None:
        page, _ = _message_page("too_many", seconds=retry)
        return page, 429, {"Retry-After": str(retry)}
    if request.args.get("lang") in LANGUAGES:
        session["lang"] = request.args["lang"]
    return None


def values_from_form(form: MultiDict, sections=SME_SECTIONS) -> dict[str, Any]:
    """The form's values as entered (every yes/no answered, lists as lists, text as typed),
    for the fields of ``sections``."""
    values: dict[str, Any] = {}
    for _, names in sections:
        for name in names:
            kind = FIELD_BY_NAME[name].kind
            if kind is Kind.BOOL:
                values[name] = form.get(name) == "true"
            elif kind is Kind.ENUM_LIST:
                values[name] = form.getlist(name)[: len(FIELD_BY_NAME[name].choices or ())]
            else:
                values[name] = form.get(name, "").strip()[:DRAFT_TEXT_MAX]
    return values


def field_errors(exc: ProfileValidationError) -> dict[str, list[str]]:
    """A validation failure's messages by field, in the page's language."""
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(error["field"], []).append(error_message(error["message"]))
    return errors


def validation_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """The validator's verdict on ``values``, by field, in the page's language."""
    try:
        validate_profile(values)
    except ProfileValidationError as exc:
        return field_errors(exc)
    return {}


def consent_paragraphs(lang: str | None = None) -> list[str]:
    """The consent text in ``lang`` (the page's by default), naming the office."""
    texts = current_app.extensions[EXTENSION][lang or current_language()]
    return service.consent_text(
        texts,
        office=current_app.config.get("OFFICE_NAME", ""),
        contact=current_app.config.get("OFFICE_CONTACT", ""),
        days=service.setting("SELF_ASSESSMENT_RETENTION_DAYS"),
    )


# --- pages -------------------------------------------------------------------------------------


def _message_page(kind: str, status: int = 200, *, closed: str | None = None, **params: Any):
    """A short page in both languages, the page's language first: a link that cannot be
    used (``closed``: why), a submission's state, too many requests."""
    first = current_language()
    messages = []
    for lang in sorted(LANGUAGES, key=lambda lang: lang != first):
        with language(lang):
            shown = {
                name: local_time(value) if isinstance(value, dt.datetime) else value
                for name, value in params.items()
            }
            messages.append(
                {
                    "lang": lang,
                    "title": t(f"self_assessment.{kind}.title"),
                    "body": t(f"self_assessment.{kind}.body", **shown),
                    "closed": t(f"self_assessment.{closed}.title") if closed else None,
                }
            )
    page = render_template("self_assessment/message.html", messages=messages, kind=kind)
    return page, status


def _closed_page(info: InvitationInfo, state: str):
    """The 410 page of a link that no longer works, with where its last submission stands."""
    latest = invitation_store.latest_of(get_session(), info.id)
    if latest is not None and latest.status != "draft":
        return _status_page(latest, status=410, closed=state)
    return _message_page(state, 410)


def _status_page(latest: SelfAssessmentInfo, *, status: int = 200, closed: str | None = None):
    """Where the SME's last submission stands (received, accepted, or rejected and why)."""
    params: dict[str, Any] = {"submitted": latest.submitted_at}
    if latest.status == "rejected":
        params["reason"] = latest.reject_reason or ""
    return _message_page(f"status_{latest.status}", status, closed=closed, **params)


def _find(token: str) -> InvitationInfo | None:
    return invitation_store.find_invitation(get_session(), token)


def _form_page(
    info: InvitationInfo,
    token: str,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    latest: SelfAssessmentInfo | None,
    status: int = 200,
):
    return render_template(
        "self_assessment/form.html",
        invitation=info,
        token=token,
        sections=SME_SECTIONS,
        fields=FIELD_BY_NAME,
        values=values,
        errors=errors,
        latest=latest,
        consent=consent_paragraphs(),
        consent_given=request.form.get("consent") == "yes",
        language_form="self-form",
    ), status


@bp.route("/<token>", methods=["GET", "POST"])
def fill(token: str):
    info = _find(token)
    if info is None:
        return _message_page("not_found", 404)
    if "lang" not in session:
        session["lang"] = info.language
    state = info.state()
    if state != "open":
        return _closed_page(info, state)
    db = get_session()
    latest = invitation_store.latest_of(db, info.id)
    if latest is not None and latest.status == "submitted":
        return _status_page(latest)
    if request.method == "GET":
        values = latest.values if latest is not None else {}
        return _form_page(info, token, values, {}, latest=latest)

    entered = profile_from_form(values_from_form(request.form))
    if request.form.get("lang") in LANGUAGES:  # the switch: re-show in the other language
        session["lang"] = request.form["lang"]
        return _form_page(info, token, entered, {}, latest=latest)
    answers, personal = service.split_values(entered)
    profile = {**entered, "sme_id": info.sme_id}
    try:
        if request.form.get("action") != "submit":
            invitation_store.save_draft(
                db, info.id, answers=answers, personal=personal, language=current_language()
            )
            db.commit()
            flash(t("self_assessment.saved"))
            return redirect(url_for("web_self.fill", token=token))
        errors = validation_errors(profile)
        if request.form.get("consent") != "yes":
            errors["consent"] = [t("self_assessment.consent.required")]
        if errors:
            invitation_store.save_draft(
                db, info.id, answers=answers, personal=personal, language=current_language()
            )
            db.commit()
            return _form_page(info, token, profile, errors, latest=latest, status=422)
        submitted = invitation_store.submit(
            db,
            info.id,
            answers=answers,
            personal=personal,
            language=current_language(),
            consent=service.consent_record(consent_paragraphs(), current_language()),
        )
        db.commit()
    except InvitationClosed:
        db.rollback()
        return _closed_page(info, _find(token).state())
    session[SUBMITTED] = submitted.id
    return redirect(url_for("web_self.thanks", token=token))


@bp.route("/<token>/thanks")
def thanks(token: str):
    info = _find(token)
    if info is None:
        return _message_page("not_found", 404)
    latest = invitation_store.latest_of(get_session(), info.id)
    if latest is None or session.get(SUBMITTED) != latest.id:
        return redirect(url_for("web_self.fill", token=token))
    record = None
    if info.show_result:
        record = service.preview(latest.values, get_scorer(), lang=current_language())
    return render_template(
        "self_assessment/thanks.html", invitation=info, submission=latest, record=record
    )
