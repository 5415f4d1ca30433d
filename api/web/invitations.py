"""Staff pages of the SME's self-assessment: invitations (make one, its link shown once
with a copy button; list; revoke) and the review queue of what SMEs submitted.

An officer opens a submission, sees it in the staff form with the validator's verdict,
corrects fields and accepts it (scored and stored through the same path as the staff
form, in the invitation's cohort, with the submission as the score's origin) or rejects
it with a reason the SME then sees through its link. Leads do not see the owner and
contact fields; what they accept keeps the ones the SME gave.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as web_session

from api import store
from api.db import get_session
from api.services import self_assessment as service
from api.services.scorer import get_scorer
from api.store import invitations as invitation_store
from api.store.invitations import STATES, NotUnderReview, SelfAssessmentInfo
from api.tables import INVITATION_KINDS
from api.web.auth import actor, role_required
from api.web.i18n import LANGUAGES, current_language, t
from api.web.profiles import form_sections, may_see_personal_data, profile_from_form
from api.web.self_assessment import field_errors, validation_errors, values_from_form
from scoring.contract.fields import FIELD_BY_NAME, PERSONAL_COLUMNS
from scoring.errors import ProfileValidationError

bp = Blueprint("web_invitations", __name__)

#: Longest reason of a rejection.
REASON_MAX = 1000
#: Invitations listed on the page, newest first.
LISTED = 200


def _review_sections() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The staff form's sections for this user, without the sme_id (the invitation's)."""
    return tuple(
        (name, tuple(f for f in fields if f != "sme_id")) for name, fields in form_sections()
    )


# --- invitations ------------------------------------------------------------------------------


def _new_values() -> dict[str, Any]:
    """The creation form as posted (or its defaults)."""
    form = request.form if request.method == "POST" else request.args
    return {
        "kind": form.get("kind", "cohort"),
        "cohort": form.get("cohort", "").strip(),
        "sme_id": form.get("sme_id", "").strip(),
        "language": form.get("language", "id"),
        "show_result": form.get("show_result") == "true" if request.method == "POST" else True,
        "max_uses": form.get("max_uses", "1").strip(),
        "expires_in_days": form.get(
            "expires_in_days", str(service.setting("SELF_ASSESSMENT_EXPIRY_DAYS"))
        ).strip(),
    }


def _whole(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 6 else None


@bp.route("/invitations", methods=["GET", "POST"])
@role_required("officer")
def invitations():
    session = get_session()
    values, error, created = _new_values(), None, None
    if request.method == "POST":
        max_uses, days = _whole(values["max_uses"]), _whole(values["expires_in_days"])
        if values["kind"] not in INVITATION_KINDS or values["language"] not in LANGUAGES:
            error = t("error.missing")
        elif max_uses is None or days is None:
            error = t("invitations.whole_numbers")
        else:
            try:
                created = service.make_invitation(
                    session,
                    kind=values["kind"],
                    sme_id=values["sme_id"],
                    cohort=values["cohort"],
                    language=values["language"],
                    show_result=values["show_result"],
                    max_uses=max_uses,
                    expires_in_days=days,
                    actor=actor(),
                    with_personal=may_see_personal_data(),
                )
            except service.InvitationError as exc:
                error = t(f"invitations.error.{exc.code}", **exc.params)
        if created is not None:
            session.commit()
    link = None
    if created is not None:
        info, token = created
        link = {"info": info, "url": url_for("web_self.fill", token=token, _external=True)}
    state = request.args.get("state")
    listed, total = invitation_store.list_invitations(
        session, state=state if state in STATES else None, per_page=LISTED
    )
    return render_template(
        "invitations/list.html",
        invitations=listed,
        total=total,
        states=STATES,
        state=state,
        values=values,
        error=error,
        link=link,
        cohorts=store.cohort_names(session),
        max_uses=service.MAX_USES,
        max_days=service.MAX_EXPIRY_DAYS,
    ), (422 if error else 200)


@bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
@role_required("officer")
def revoke(invitation_id: int):
    session = get_session()
    if service.revoke_invitation(session, invitation_id, actor=actor()) is not None:
        session.commit()
        flash(t("invitations.revoked_notice", id=invitation_id))
    return redirect(url_for("web_invitations.invitations"))


# --- the review queue -------------------------------------------------------------------------


@bp.route("/self-assessments/review")
@role_required("officer")
def review_queue():
    session = get_session()
    return render_template(
        "self_assessment/review_queue.html",
        waiting=invitation_store.review_queue(session),
        reviewed=invitation_store.recent_reviews(session),
    )


def _review_page(
    submission: SelfAssessmentInfo,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    reason: str = "",
    reason_error: str | None = None,
    status: int = 200,
):
    return render_template(
        "self_assessment/review.html",
        submission=submission,
        sections=_review_sections(),
        fields=FIELD_BY_NAME,
        values=values,
        errors=errors,
        reason=reason,
        reason_error=reason_error,
        reason_max=REASON_MAX,
        language_form="review-form",
    ), status


@bp.route("/self-assessments/<int:self_assessment_id>", methods=["GET", "POST"])
@role_required("officer")
def review(self_assessment_id: int):
    session = get_session()
    submission = invitation_store.get_self_assessment(session, self_assessment_id)
    if submission is None or submission.status == "draft":
        return render_template("errors/404.html"), 404
    hidden = () if may_see_personal_data() else PERSONAL_COLUMNS
    shown = {k: v for k, v in submission.values.items() if k not in hidden}
    under_review = submission.status == "submitted"
    if request.method == "POST" and request.form.get("lang") in LANGUAGES:
        web_session["lang"] = request.form["lang"]  # the switch: re-show, keep what was typed
        if under_review:
            entered = profile_from_form(values_from_form(request.form, _review_sections()))
            return _review_page(submission, entered, {}, reason=request.form.get("reason", ""))
    if request.method == "GET" or not under_review:
        errors = validation_errors(submission.values) if under_review else {}
        return _review_page(submission, shown, errors)

    entered = profile_from_form(values_from_form(request.form, _review_sections()))
    reason = request.form.get("reason", "").strip()
    # What the officer may not see is taken as the SME gave it.
    values = {**{k: submission.personal.get(k) for k in hidden}, **entered}
    values["sme_id"] = submission.invitation.sme_id
    try:
        if request.form.get("action") == "reject":
            if not reason or len(reason) > REASON_MAX:
                message = t("self_assessment.review.reason_needed", max=REASON_MAX)
                return _review_page(submission, entered, {}, reason_error=message, status=422)
            service.reject(session, submission, reason=reason, actor=actor())
            session.commit()
            flash(t("self_assessment.review.rejected", id=submission.id))
            return redirect(url_for("web_invitations.review_queue"))
        try:
            service.accept(
                session,
                submission,
                values=values,
                scorer=get_scorer(),
                lang=current_language(),
                actor=actor(),
            )
        except ProfileValidationError as exc:
            session.rollback()
            return _review_page(submission, entered, field_errors(exc), reason=reason, status=422)
        session.commit()
    except NotUnderReview:
        session.rollback()
        flash(t("self_assessment.review.already"))
        return redirect(url_for("web_invitations.review", self_assessment_id=self_assessment_id))
    flash(t("self_assessment.review.accepted", id=submission.id))
    return redirect(url_for("web_profiles.sme", sme_id=submission.invitation.sme_id))
