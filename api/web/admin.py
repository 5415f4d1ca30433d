"""Administration pages: staff accounts and API keys (admins only).

The same store functions as ``sme-export users`` and ``sme-export keys``; a new API key's
text is shown once, on the page that created it.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from api import store
from api.db import get_session
from api.tables import USER_LANGUAGES, USER_ROLES
from api.web.auth import actor, current_user, role_required
from api.web.i18n import t

bp = Blueprint("web_admin", __name__, url_prefix="/admin")


def _users_page(error: str | None = None, values: dict | None = None, status: int = 200):
    users = store.list_users(get_session())
    return render_template(
        "admin_users.html",
        users=users,
        roles=USER_ROLES,
        languages=USER_LANGUAGES,
        error=error,
        values=values or {},
    ), status


def _account_problem(session, values: dict, password: str) -> str | None:
    """Why the account cannot be created, in the page's language (None: it can)."""
    if not store.USERNAME_PATTERN.match(values["username"]):
        return t("admin.bad_username")
    if values["role"] not in USER_ROLES or values["language"] not in USER_LANGUAGES:
        return t("error.missing")
    if len(password) < store.MIN_PASSWORD_LENGTH:
        return t("admin.password_help")
    if store.get_user(session, values["username"]) is not None:
        return t("admin.user_exists")
    return None


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users():
    if request.method == "GET":
        return _users_page()
    values = {name: request.form.get(name, "") for name in ("username", "role", "language")}
    values["username"] = values["username"].strip().lower()
    password = request.form.get("password", "")
    session = get_session()
    problem = _account_problem(session, values, password)
    if problem:
        return _users_page(t("admin.user_refused", reason=problem), values, 422)
    user = store.create_user(
        session,
        password=password,
        hash_method=current_app.config["USER_HASH_METHOD"],
        **values,
    )
    store.audit(
        session,
        actor=actor(),
        action="user.created",
        subject=f"user:{user.username}",
        details={"role": user.role},
    )
    session.commit()
    return redirect(url_for("web_admin.users"))


@bp.route("/users/<username>/disable", methods=["POST"])
@role_required("admin")
def disable_user(username: str):
    session = get_session()
    if username != current_user().username and store.disable_user(session, username):
        store.audit(session, actor=actor(), action="user.disabled", subject=f"user:{username}")
        session.commit()
    return redirect(url_for("web_admin.users"))


@bp.route("/keys", methods=["GET", "POST"])
@role_required("admin")
def keys():
    session = get_session()
    new_key, error = None, None
    if request.method == "POST":
        scopes = request.form.getlist("scopes")
        name = request.form.get("name", "").strip()
        if not name or not scopes or not set(scopes) <= set(store.SCOPES):
            error = t("admin.key_refused", reason=t("admin.key_needs"))
        else:
            key_id, new_key = store.create_api_key(session, name=name, scopes=scopes)
            store.audit(
                session,
                actor=actor(),
                action="api_key.created",
                subject=key_id,
                details={"scopes": list(dict.fromkeys(scopes))},
            )
            session.commit()
    return render_template(
        "admin_keys.html",
        keys=store.list_api_keys(session),
        scopes=store.SCOPES,
        new_key=new_key,
        error=error,
    ), (422 if error else 200)


@bp.route("/keys/<key_id>/revoke", methods=["POST"])
@role_required("admin")
def revoke_key(key_id: str):
    session = get_session()
    if store.revoke_api_key(session, key_id):
        store.audit(session, actor=actor(), action="api_key.revoked", subject=key_id)
        session.commit()
    return redirect(url_for("web_admin.keys"))
