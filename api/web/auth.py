"""Staff login: sessions, roles and the lockout after repeated wrong passwords.

Roles rank ``officer`` < ``lead`` < ``admin``; a page names the lowest role that may
see it with ``role_required``. The session (a signed cookie that expires after
``PERMANENT_SESSION_LIFETIME`` without use) holds the username, the account's session
generation and the language; the account is read again on every request, so a disabled
account is out at once, and logging out bumps the generation, so a copy of the cookie
is useless afterwards. The audit log names web users as ``user:<username>``.

Every refused login gets the same answer (unknown account, wrong password or locked),
failed logins are rate limited per client address, the lockout holds for the account
from that address only, and the typed username of a failed login is never stored (the
processing log keeps an HMAC of it, keyed with the app's secret, to correlate attempts).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
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
from api.http import rate_limit
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
        if user is None or not user.active or session.get("generation") != user.session_generation:
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


def keyed_digest(text: str) -> str:
    """An HMAC-SHA256 of ``text`` keyed with the app's secret: correlates without keeping
    the text (a typed username, a client address)."""
    secret = current_app.config["SECRET_KEY"]
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _refused(status: int = 401):
    """The one answer to every refused login: it does not tell whether the account
    exists, the password was wrong or the account is locked from this address."""
    config = current_app.config
    message = t(
        "login.refused", max=config["LOGIN_MAX_FAILURES"], minutes=config["LOGIN_LOCK_MINUTES"]
    )
    page = render_template(
        "login.html",
        error=message,
        username=request.form.get("username", "").strip(),
        next=request.form.get("next", ""),
    )
    return page, status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    address = keyed_digest(f"address:{request.remote_addr or ''}")
    retry = rate_limit.login_retry_after(address)
    if retry is not None:
        message = t("login.too_many", seconds=retry)
        page = render_template("login.html", error=message, next=request.form.get("next", ""))
        return page, 429, {"Retry-After": str(retry)}
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    db = get_session()
    result = store.check_login(
        db,
        username,
        password,
        address=address,
        max_failures=current_app.config["LOGIN_MAX_FAILURES"],
        lock_for=dt.timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"]),
    )
    if result.user is not None:
        store.audit(
            db,
            actor=f"user:{result.user.username}",
            action="login",
            subject=f"user:{result.user.username}",
            details={"outcome": result.outcome},
        )
    else:
        store.audit(
            db,
            actor="anonymous",
            action="login",
            subject=None,
            details={
                "outcome": result.outcome,
                "username_hmac": keyed_digest(f"username:{username}")[:16],
            },
        )
    db.commit()
    if result.user is None:
        rate_limit.count_failed_login(address)
        return _refused()
    session.clear()  # a fresh session on login: no fixation of an earlier one
    session.permanent = True
    session["user"] = result.user.username
    session["generation"] = result.user.session_generation
    session["lang"] = result.user.language
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    """End every session of the account, this cookie and any copy of it."""
    user = current_user()
    if user is not None:
        db = get_session()
        store.end_sessions(db, user.username)
        store.audit(db, actor=actor(), action="logout", subject=f"user:{user.username}")
        db.commit()
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
