"""The service's database as the governance commands use it: activations reach the audit
log, and `ruleset impact --cohort NAME` and `drift` read profiles stored in it.

The database is the one of ``--database-url`` elsewhere: ``DATABASE_URL``, else the
embedded SQLite file; when there is none yet, activations are still recorded in the
registry's own history file, and no event tells other systems of them.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click
import pandas as pd
from sqlalchemy import make_url

from api.cli.common import default_url, one_line

_ACTIONS = {"promote": "promote", "rollback": "rollback", "ruleset_activate": "change"}


def _database_url() -> str | None:
    """The service's database, if one exists (an absent SQLite file is not created here)."""
    url = os.environ.get("DATABASE_URL") or default_url()
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    on_disk = sqlite and parsed.database not in (None, "", ":memory:")
    if on_disk and not Path(parsed.database).exists():
        return None
    return url


def _with_session(work):
    from api.db import make_engine, make_sessionmaker

    url = _database_url()
    if url is None:
        return None
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            return work(session)
    finally:
        engine.dispose()


def record_audit(event: dict) -> None:
    """Write a promotion, rollback or ruleset activation to the service's audit log; a
    failure is reported, not fatal (the registry's own history already holds the event)."""
    try:
        audit_activation(event)
    except Exception as exc:  # an audit log failure must not undo an activation
        click.echo(f"warning: audit log not written ({one_line(exc)})", err=True)


def audit_activation(event: dict) -> None:
    """Write a promotion, rollback or ruleset activation to the service's audit log, with
    its event for other systems (``model.promoted``, ``ruleset.activated``)."""
    from api import store

    def write(session) -> None:
        store.audit(
            session,
            actor=event["actor"] if ":" in event["actor"] else f"cli:{event['actor']}",
            action=_ACTIONS.get(event["action"], event["action"]),
            subject=event["version"],
            details={
                "kind": event["action"],
                **{k: event.get(k) for k in ("previous", "forced", "reason", "guard")},
            },
        )
        store.emit_activation(session, event)

    _with_session(write)


def stored_cohort(cohort: str) -> pd.DataFrame | None:
    """The stored profiles of a cohort, or None if the database has none."""
    from api import store
    from api.services.governance import profiles_frame

    records = _with_session(lambda session: store.cohort_profiles(session, cohort))
    return profiles_frame(records) if records else None


def recently_scored(days: int) -> pd.DataFrame | None:
    """Profiles scored in the last ``days`` days, or None if there are none."""
    from api import store
    from api.services.governance import profiles_frame

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    records = _with_session(lambda session: store.recent_profiles(session, since=since))
    return profiles_frame(records) if records else None
