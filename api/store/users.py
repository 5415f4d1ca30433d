"""Staff accounts: salted password hashes, per-client login lockout, session generations."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from api.tables import USER_LANGUAGES, USER_ROLES, LoginFailure, User, utcnow


@dataclass(frozen=True)
class UserInfo:
    """What the web pages may know of a staff account: never its password hash."""

    username: str
    role: str
    language: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    locked_until: dt.datetime | None
    session_generation: int = 0

    @property
    def active(self) -> bool:
        return self.disabled_at is None


#: werkzeug's name of the password hash: scrypt, slow on purpose.
USER_HASH_METHOD = "scrypt"
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10


def _user_info(row: User) -> UserInfo:
    return UserInfo(
        username=row.username,
        role=row.role,
        language=row.language,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        locked_until=row.locked_until,
        session_generation=row.session_generation or 0,
    )


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    language: str = "id",
    hash_method: str = USER_HASH_METHOD,
) -> UserInfo:
    """A new staff account; the password is stored only as a salted hash (``hash_method``
    as werkzeug names it; the default is scrypt)."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise ValueError("a username is 2 to 64 of a-z 0-9 . _ -, starting with a letter or digit")
    if role not in USER_ROLES:
        raise ValueError(f"role must be one of {', '.join(USER_ROLES)}; got {role!r}")
    if language not in USER_LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(USER_LANGUAGES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValueError(f"user {username!r} exists already")
    row = User(
        username=username,
        password_hash=generate_password_hash(password, method=hash_method),
        role=role,
        language=language,
        failed_logins=0,
    )
    session.add(row)
    session.flush()
    return _user_info(row)


def get_user(session: Session, username: str) -> UserInfo | None:
    """The account ``username`` (disabled ones too), else None."""
    row = session.scalar(select(User).where(User.username == username))
    return None if row is None else _user_info(row)


def list_users(session: Session) -> list[UserInfo]:
    """Every account, by username (code point order, whatever the database's collation)."""
    rows = sorted(session.scalars(select(User)), key=lambda row: row.username)
    return [_user_info(row) for row in rows]


def disable_user(session: Session, username: str) -> bool:
    """Disable an active account; False if there is no active account ``username``."""
    row = session.scalar(select(User).where(User.username == username))
    if row is None or row.disabled_at is not None:
        return False
    row.disabled_at = utcnow()
    return True


def set_user_language(session: Session, username: str, language: str) -> None:
    """Remember the account's preferred language of the web pages."""
    if language not in USER_LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(USER_LANGUAGES)}")
    session.execute(update(User).where(User.username == username).values(language=language))


def end_sessions(session: Session, username: str) -> None:
    """Log the account out everywhere: every web session issued before stops working."""
    session.execute(
        update(User)
        .where(User.username == username)
        .values(session_generation=User.session_generation + 1)
    )


@dataclass(frozen=True)
class LoginResult:
    """The verdict on a login: ``user`` when it succeeded, else why not (``refused`` or
    ``locked``; an unknown or disabled account is ``refused`` like a wrong password). The
    web page gives one answer for every refusal, so it cannot tell which accounts exist."""

    user: UserInfo | None
    outcome: str  # "ok" | "refused" | "locked"


@cache
def _dummy_password_hash() -> str:
    """A hash to check when there is no account, made once (hashing is slow on purpose)."""
    return generate_password_hash("no such user", method=USER_HASH_METHOD)


def check_login(
    session: Session,
    username: str,
    password: str,
    *,
    address: str,
    max_failures: int,
    lock_for: dt.timedelta,
) -> LoginResult:
    """Check a password and keep the lockout count of the account *from this client
    ``address``* (an opaque key, e.g. an HMAC of the IP address): ``max_failures`` wrong
    passwords in a row from there lock that pair for ``lock_for``, while the account can
    still log in from elsewhere; while locked even the right password is refused.

    The hash is checked also for unknown accounts, so timing does not tell which exist;
    nothing is recorded about names that are not accounts.
    """
    username = username.strip().lower()
    row = session.scalar(select(User).where(User.username == username))
    now = utcnow()
    matches = check_password_hash(
        row.password_hash if row is not None else _dummy_password_hash(), password
    )
    if row is None or row.disabled_at is not None:
        return LoginResult(None, "refused")
    failure = session.get(LoginFailure, (username, address))
    if failure is not None and failure.locked_until is not None and failure.locked_until > now:
        return LoginResult(None, "locked")
    if not matches:
        if failure is None:
            failure = LoginFailure(username=username, address_hmac=address, failures=0)
            session.add(failure)
        failure.failures += 1
        failure.last_failed_at = now
        if failure.failures >= max_failures:
            failure.failures = 0
            failure.locked_until = now + lock_for
            return LoginResult(None, "locked")
        return LoginResult(None, "refused")
    if failure is not None:
        session.delete(failure)
    return LoginResult(_user_info(row), "ok")
