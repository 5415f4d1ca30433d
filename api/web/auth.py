"""Staff login: sessions, roles and the lockout after repeated wrong passwords.

Roles rank ``officer`` < ``lead`` < ``admin``; a page names the lowest role that may
see it with ``role_required``. The session (a signed cookie that expires after
``PERMANENT_SESSION_LIFETIME`` without use) holds only the username and the language;
the account is read again on every request, so a disabled account is out at once.
The audit log names web users as ``user:<username>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from api import store
from api.db import get_session
from api.tables import USER_ROLES
from api.web.i18n import LANGUAGES, t

bp = Blueprint("web_auth", __name__)

ROLE_RANK = {role: rank for rank, role in enumerate(USER_ROLES)}
_ANONYMOUS = object()


def current_user() -> store.UserInfo | None:
    """The logged-in, active staff account of this request, else None."""
    cached = g.get("web_user", _ANONYMOUS)
    if cached is not _ANONYMOUS:
        return cached
    user = None
    username = session.get("user")
    if username:
        user = store.get_user(get_session(), username)
        if user is None or not user.active:
            session.clear()
            user = None
    g.web_user = user
    return user


def actor() -> str:
    """Who acts in this request, for the audit log."""
    user = current_user()
    return f"user:{user.username}" if user is not None else "anonymous"


def has_role(user: store.UserInfo | None, role: str) -> bool:
    return user is not None and ROLE_RANK[user.role] >= ROLE_RANK[role]


def role_required(role: str) -> Callable:
    """View decorator: anonymous visitors go to the login page (and come back after),
    staff below ``role`` get the 403 page."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("web_auth.login", next=request.full_path.rstrip("?")))
            if not has_role(user, role):
                return render_template("errors/403.html"), 403
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site) is ignored."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("web_auth.home")


@bp.route("/")
def home():
    if current_user() is None:
        return redirect(url_for("web_auth.login"))
    return render_template("home.html")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    db = get_session()
    result = store.check_login(
        db,
        username,
        password,
        max_failures=current_app.config["LOGIN_MAX_FAILURES"],
        lock_for=dt.timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"]),
    )
    store.audit(
        db,
        actor=f"user:{username}" if result.user else "anonymous",
        action="login",
        subject=f"user:{username}"[:200],
        details={"outcome": result.outcome},
    )
    db.commit()
    if result.user is None:
        key = "login.locked" if result.outcome == "locked" else "login.refused"
        message = t(key, minutes=current_app.config["LOGIN_LOCK_MINUTES"])
        return render_template(
            "login.html", error=message, username=username, next=request.form.get("next", "")
        ), 401
    session.clear()  # a fresh session on login: no fixation of an earlier one
    session.permanent = True
    session["user"] = result.user.username
    session["lang"] = result.user.language
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    lang = session.get("lang")
    session.clear()
    if lang in LANGUAGES:
        session["lang"] = lang
    return redirect(url_for("web_auth.login"))


@bp.route("/language", methods=["POST"])
def language():
    """Switch the pages' language; kept in the session and as the user's preference."""
    lang = request.form.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
        user = current_user()
        if user is not None:
            db = get_session()
            store.set_user_language(db, user.username, lang)
            db.commit()
    return redirect(_safe_next(request.form.get("next")))
