"""Repository functions: the only place that runs queries. The caller commits.

Every function takes a SQLAlchemy ``Session``. Score records are the SPEC section 4
dicts. Timestamps in the dicts returned are ISO 8601 strings in UTC ("...Z", like a
record's ``scored_at``); ``ApiKeyInfo`` holds aware UTC datetimes. "Latest" and
"oldest first" follow the order in which scores were stored. Personal fields live only
in ``personal_data`` and never enter score rows, audit details or aggregates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, Text, cast, delete, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import StaticPool

from api.tables import (
    ApiKey,
    AuditEvent,
    Batch,
    CohortMember,
    PersonalData,
    Score,
    ScoreAggregate,
    Sme,
    utcnow,
)
from scoring import fields as F

SCOPES = ("score", "read", "admin")
KEY_PREFIX = "sme_"
ERASED_MESSAGE = "(erased)"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_MAX_KEY_LENGTH = 200
_DUMMY_DIGEST = hashlib.sha256(b"no such key").hexdigest()
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's limits
_SUMMARY_COLUMNS = (
    "score",
    "tier",
    "rules_score",
    "ml_probability",
    "model_version",
    "ruleset_version",
    "scored_at",
)


# --- API keys ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown of an API key: never its secret or hash."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _key_info(row: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.key_id,
        name=row.name,
        scopes=tuple(row.scopes),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _split_key(presented: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a key text ``sme_<key_id>_<secret>``, None if malformed."""
    if not isinstance(presented, str) or len(presented) > _MAX_KEY_LENGTH:
        return None
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = presented[len(KEY_PREFIX) :].partition("_")
    if not (key_id and sep and secret):
        return None
    return key_id, secret


def create_api_key(session: Session, *, name: str, scopes: Iterable[str]) -> tuple[str, str]:
    """A new key: ``(key_id, full key text)``. The text is shown once; only its hash is kept."""
    name = name.strip()
    if not name:
        raise ValueError("an API key needs a name")
    scopes = tuple(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be one or more of {', '.join(SCOPES)}; got {list(scopes)}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(key_id=key_id, name=name, secret_sha256=_digest(secret), scopes=list(scopes))
    )
    session.flush()
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}"


def find_api_key(session: Session, presented: str) -> ApiKeyInfo | None:
    """The active key matching ``presented``, else None.

    The secret's hash is compared in constant time, also when the key id is unknown.
    ``last_used_at`` is recorded at most once a minute, in its own short transaction
    (bookkeeping that must not make every read request a writer holding the key's row).
    """
    parts = _split_key(presented)
    row = None
    if parts is not None:
        row = session.scalar(select(ApiKey).where(ApiKey.key_id == parts[0]))
    expected = row.secret_sha256 if row is not None else _DUMMY_DIGEST
    matches = hmac.compare_digest(expected, _digest(parts[1] if parts else ""))
    if row is None or not matches or row.revoked_at is not None:
        return None
    _record_use(session, row)
    return _key_info(row)


def _record_use(session: Session, row: ApiKey) -> None:
    now = utcnow()
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_RESOLUTION:
        return
    bind = session.get_bind()
    if not isinstance(bind, Engine) or isinstance(bind.pool, StaticPool):
        row.last_used_at = now  # one shared connection: only the caller's transaction exists
        return
    table = ApiKey.__table__
    try:
        with bind.begin() as connection:
            connection.execute(update(table).where(table.c.id == row.id).values(last_used_at=now))
    except OperationalError:
        return  # best effort: a busy database does not refuse a valid key
    set_committed_value(row, "last_used_at", now)


def revoke_api_key(session: Session, key_id: str) -> bool:
    """Revoke a key; False if there is no active key ``key_id``."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def list_api_keys(session: Session) -> list[ApiKeyInfo]:
    """Every key, oldest first, without secrets."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
    return [_key_info(row) for row in rows]


# --- profiles and scores ---------------------------------------------------------------------


def _upsert(session: Session, table):
    """The dialect's INSERT that supports ON CONFLICT (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise NotImplementedError(f"no upsert for database {dialect!r}")
    return insert(table)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas.NA and NaT are not equal to themselves
    except (TypeError, ValueError):
        return True


def _personal_row(sme_id: str, profile: dict, person: dict) -> dict:
    row = {"sme_id": sme_id}
    for name in F.PERSONAL_COLUMNS:
        value = person.get(name)
        if _missing(value):
            value = profile.get(name)
        row[name] = None if _missing(value) else str(value)
    return row


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def save_scored(
    session: Session,
    *,
    profiles: Sequence[dict],
    personal: Sequence[dict],
    records: Sequence[dict],
    cohort: str | None,
    batch_id: int | None,
    actor: str,
) -> None:
    """Store scored profiles: upsert each SME (latest profile), its personal row and cohort
    membership, insert one score row per record, and audit it.

    ``profiles``, ``personal`` and ``records`` are aligned lists (one SME per position);
    personal fields found in ``profiles`` are moved to the personal table.
    """
    if not len(profiles) == len(personal) == len(records):
        raise ValueError("profiles, personal and records must have the same length")
    if not records:
        return
    if batch_id is not None:
        batch = session.get(Batch, batch_id)
        if batch is None:
            raise LookupError(f"no batch {batch_id}")
        if batch.status != "running":
            raise ValueError(f"batch {batch_id} is {batch.status}, not running")
    session.flush()
    now = utcnow()
    smes: dict[str, dict] = {}
    people: dict[str, dict] = {}
    scores: list[dict] = []
    for profile, person, record in zip(profiles, personal, records, strict=True):
        sme_id = profile["sme_id"]
        if record["sme_id"] != sme_id:
            raise ValueError(f"record of {record['sme_id']!r} stands beside profile of {sme_id!r}")
        smes[sme_id] = {
            "sme_id": sme_id,
            "name": profile["name"],
            "sector": profile["sector"],
            "profile": {name: profile.get(name) for name in F.PROFILE_COLUMNS},
            "created_at": now,
            "updated_at": now,
        }
        people[sme_id] = _personal_row(sme_id, profile, person)
        scores.append(
            {
                "sme_id": sme_id,
                "batch_id": batch_id,
                "sector": profile["sector"],
                "score": record["score"],
                "tier": record["tier"],
                "rules_score": record["rules_score"],
                "ml_probability": record["ml_probability"],
                "model_version": record["model_version"],
                "ruleset_version": record["ruleset_version"],
                "scored_at": _parse_time(record["scored_at"]),
                "record": dict(record),
            }
        )

    upsert = _upsert(session, Sme.__table__)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=["sme_id"],
            set_={c: upsert.excluded[c] for c in ("name", "sector", "profile", "updated_at")},
        ),
        list(smes.values()),
    )
    upsert = _upsert(session, PersonalData.__table__)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=["sme_id"],
            set_={c: upsert.excluded[c] for c in F.PERSONAL_COLUMNS},
        ),
        list(people.values()),
    )
    if cohort is not None:
        session.execute(
            _upsert(session, CohortMember.__table__).on_conflict_do_nothing(),
            [{"cohort": cohort, "sme_id": sme_id} for sme_id in smes],
        )
    session.execute(Score.__table__.insert(), scores)
    subject = f"batch/{batch_id}" if batch_id is not None else None
    if subject is None and len(smes) == 1:
        subject = next(iter(smes))
    audit(
        session,
        actor=actor,
        action="scores.saved",
        subject=subject,
        details={"count": len(scores), "cohort": cohort, "batch_id": batch_id},
    )


def _cohorts_of(session: Session, sme_ids: Sequence[str]) -> dict[str, list[str]]:
    cohorts: dict[str, list[str]] = {sme_id: [] for sme_id in sme_ids}
    for chunk in _chunks(sme_ids):
        rows = session.execute(
            select(CohortMember.sme_id, CohortMember.cohort)
            .where(CohortMember.sme_id.in_(chunk))
            .order_by(CohortMember.cohort)
        )
        for sme_id, cohort in rows:
            cohorts[sme_id].append(cohort)
    return cohorts


def get_sme(session: Session, sme_id: str) -> dict | None:
    """The SME's latest profile (personal fields included), cohorts and latest score record."""
    profile = session.scalar(select(Sme.profile).where(Sme.sme_id == sme_id))
    if profile is None:
        return None
    person = session.get(PersonalData, sme_id)
    merged = dict(profile)
    for name in F.PERSONAL_COLUMNS:
        merged[name] = getattr(person, name) if person is not None else None
    latest = session.scalar(
        select(Score.record).where(Score.sme_id == sme_id).order_by(Score.id.desc()).limit(1)
    )
    return {
        "sme_id": sme_id,
        "profile": {name: merged.get(name) for name in F.ALL_COLUMNS},
        "cohorts": _cohorts_of(session, [sme_id])[sme_id],
        "latest_score": latest,
    }


def list_smes(
    session: Session,
    *,
    sector: str | None = None,
    tier: str | None = None,
    cohort: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict], int]:
    """One page of SMEs ordered by sme_id, and the total matching the filters.

    ``tier`` filters on the latest score. Items: sme_id, name, sector, cohorts and a
    ``latest_score`` summary (score, tier, rules_score, ml_probability, versions,
    scored_at) or None.
    """
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    latest = (
        select(Score.sme_id, func.max(Score.id).label("score_id")).group_by(Score.sme_id).subquery()
    )
    summary = [getattr(Score, name) for name in _SUMMARY_COLUMNS]
    query = (
        select(Sme.sme_id, Sme.name, Sme.sector, Score.id, *summary)
        .select_from(Sme)
        .outerjoin(latest, latest.c.sme_id == Sme.sme_id)
        .outerjoin(Score, Score.id == latest.c.score_id)
    )
    if sector is not None:
        query = query.where(Sme.sector == sector)
    if tier is not None:
        query = query.where(Score.tier == tier)
    if cohort is not None:
        members = select(CohortMember.sme_id).where(CohortMember.cohort == cohort)
        query = query.where(Sme.sme_id.in_(members))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(
        query.order_by(Sme.sme_id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    cohorts = _cohorts_of(session, [row.sme_id for row in rows])
    items = []
    for row in rows:
        latest_score = None
        if row.id is not None:
            latest_score = {name: getattr(row, name) for name in _SUMMARY_COLUMNS}
            latest_score["scored_at"] = _format_time(row.scored_at)
        items.append(
            {
                "sme_id": row.sme_id,
                "name": row.name,
                "sector": row.sector,
                "cohorts": cohorts[row.sme_id],
                "latest_score": latest_score,
            }
        )
    return items, total


def score_history(session: Session, sme_id: str) -> list[dict] | None:
    """The SME's score records, oldest first; None if the SME is unknown."""
    if session.scalar(select(Sme.id).where(Sme.sme_id == sme_id)) is None:
        return None
    return list(
        session.scalars(select(Score.record).where(Score.sme_id == sme_id).order_by(Score.id))
    )


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _latest_rows(
    session: Session, sme_ids: Iterable[str], before_batch: int | None, *columns
) -> Iterator[Any]:
    """``columns`` of each SME's latest score row, optionally stored before ``before_batch``."""
    cutoff = None
    if before_batch is not None:
        cutoff = session.scalar(select(func.min(Score.id)).where(Score.batch_id == before_batch))
    for chunk in _chunks(list(dict.fromkeys(sme_ids))):
        latest: Select = select(func.max(Score.id)).where(Score.sme_id.in_(chunk))
        if before_batch is not None:
            latest = latest.where(or_(Score.batch_id.is_(None), Score.batch_id != before_batch))
            if cutoff is not None:
                latest = latest.where(Score.id < cutoff)
        latest = latest.group_by(Score.sme_id)
        yield from session.execute(select(Score.sme_id, *columns).where(Score.id.in_(latest)))


def latest_scores(
    session: Session, sme_ids: Iterable[str], *, before_batch: int | None = None
) -> dict[str, dict]:
    """Each SME's most recent score record, by sme_id; SMEs without one are left out.

    With ``before_batch``, only scores stored before that batch's scores count (for the
    change since the previous score).
    """
    rows = _latest_rows(session, sme_ids, before_batch, Score.record)
    return {sme_id: record for sme_id, record in rows}


def erase_sme(session: Session, sme_id: str, *, actor: str) -> bool:
    """Erase an SME: profile, personal data, cohort links and scores (folded first into the
    anonymous aggregates); the row errors of batches that name it are redacted.

    Returns False when nothing was held about ``sme_id``. The audit event names only the
    sme_id and the actor.
    """
    session.flush()
    known = session.scalar(select(Sme.id).where(Sme.sme_id == sme_id)) is not None
    redacted = _redact_row_errors(session, sme_id)
    if not (known or redacted):
        return False
    if known:
        _fold_scores(session, sme_id)
        for model in (Score, CohortMember, PersonalData, Sme):
            session.execute(delete(model).where(model.sme_id == sme_id))
    audit(session, actor=actor, action="sme.erased", subject=sme_id)
    return True


def _fold_scores(session: Session, sme_id: str) -> None:
    """Add the SME's scores to ``score_aggregates`` (count and score sum per group)."""
    totals: dict[tuple, list] = {}
    rows = session.execute(
        select(
            Score.scored_at,
            Score.sector,
            Score.tier,
            Score.model_version,
            Score.ruleset_version,
            Score.score,
        ).where(Score.sme_id == sme_id)
    )
    for scored_at, sector, tier, model_version, ruleset_version, score in rows:
        key = (scored_at.date(), sector, tier, model_version, ruleset_version)
        total = totals.setdefault(key, [0, 0.0])
        total[0] += 1
        total[1] += score
    table = ScoreAggregate.__table__
    for (day, sector, tier, model_version, ruleset_version), (count, score_sum) in totals.items():
        upsert = _upsert(session, table).values(
            day=day,
            sector=sector,
            tier=tier,
            model_version=model_version,
            ruleset_version=ruleset_version,
            count=count,
            score_sum=score_sum,
        )
        session.execute(
            upsert.on_conflict_do_update(
                index_elements=[c.name for c in table.primary_key],
                set_={
                    "count": table.c.count + upsert.excluded.count,
                    "score_sum": table.c.score_sum + upsert.excluded.score_sum,
                },
            )
        )


def _redact_row_errors(session: Session, sme_id: str) -> int:
    """Blank the sme_id and messages of batch row errors about ``sme_id``; how many."""
    redacted = 0
    candidates = session.execute(
        select(Batch.id, Batch.row_errors).where(
            cast(Batch.row_errors, Text).contains(sme_id, autoescape=True)
        )
    )
    for batch_id, row_errors in candidates.all():
        changed = False
        cleaned = []
        for error in row_errors:
            if error.get("sme_id") == sme_id:
                error = {
                    "row": error.get("row"),
                    "sme_id": None,
                    "errors": [
                        {"field": e.get("field"), "message": ERASED_MESSAGE}
                        for e in error.get("errors", [])
                    ],
                }
                changed = True
                redacted += 1
            cleaned.append(error)
        if changed:
            session.execute(update(Batch).where(Batch.id == batch_id).values(row_errors=cleaned))
    return redacted


def cohort_members(session: Session, cohort: str) -> list[str]:
    """The sme_ids in ``cohort``, sorted."""
    return list(
        session.scalars(
            select(CohortMember.sme_id)
            .where(CohortMember.cohort == cohort)
            .order_by(CohortMember.sme_id)
        )
    )


# --- batches ---------------------------------------------------------------------------------


def create_batch(session: Session, *, cohort: str | None, filename: str | None, actor: str) -> int:
    """A new batch, status "running"; its id."""
    batch = Batch(status="running", cohort=cohort, filename=filename, actor=actor, row_errors=[])
    session.add(batch)
    session.flush()
    audit(
        session,
        actor=actor,
        action="batch.created",
        subject=f"batch/{batch.id}",
        details={"cohort": cohort},
    )
    return batch.id


def _running_batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise LookupError(f"no batch {batch_id}")
    if batch.status != "running":
        raise ValueError(f"batch {batch_id} is {batch.status}, not running")
    return batch


def finish_batch(
    session: Session,
    batch_id: int,
    *,
    received: int,
    scored: int,
    rejected: int,
    row_errors: Sequence[dict],
) -> None:
    """Mark a running batch complete with its counts and row errors (RowError.to_dict())."""
    if received != scored + rejected:
        raise ValueError(f"received ({received}) != scored ({scored}) + rejected ({rejected})")
    batch = _running_batch(session, batch_id)
    batch.status = "complete"
    batch.received, batch.scored, batch.rejected = received, scored, rejected
    batch.row_errors = [dict(error) for error in row_errors]
    batch.finished_at = utcnow()
    audit(
        session,
        actor=batch.actor,
        action="batch.completed",
        subject=f"batch/{batch_id}",
        details={"received": received, "scored": scored, "rejected": rejected},
    )


def fail_batch(session: Session, batch_id: int, *, reason: str) -> None:
    """Mark a running batch failed; ``reason`` is kept on the batch (not in the audit log)."""
    batch = _running_batch(session, batch_id)
    batch.status = "failed"
    batch.failure_reason = reason
    batch.finished_at = utcnow()
    audit(session, actor=batch.actor, action="batch.failed", subject=f"batch/{batch_id}")


def get_batch(session: Session, batch_id: int) -> dict | None:
    """The batch's status, counts and row errors ("reason" is set when it failed)."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        return None
    return {
        "id": batch.id,
        "status": batch.status,
        "cohort": batch.cohort,
        "filename": batch.filename,
        "received": batch.received,
        "scored": batch.scored,
        "rejected": batch.rejected,
        "created_at": _format_time(batch.created_at),
        "finished_at": _format_time(batch.finished_at) if batch.finished_at else None,
        "errors": list(batch.row_errors),
        "reason": batch.failure_reason,
    }


def batch_results(session: Session, batch_id: int) -> list[dict] | None:
    """The batch's score records in row order, each with ``previous_score`` (the SME's latest
    score before this batch, or None) and ``change`` (rounded to one decimal, or None).

    None if the batch is unknown or not complete: results are visible only once complete.
    """
    status = session.scalar(select(Batch.status).where(Batch.id == batch_id))
    if status != "complete":
        return None
    records = list(
        session.scalars(select(Score.record).where(Score.batch_id == batch_id).order_by(Score.id))
    )
    previous = dict(_latest_rows(session, (r["sme_id"] for r in records), batch_id, Score.score))
    results = []
    for record in records:
        before = previous.get(record["sme_id"])
        change = None if before is None else round(record["score"] - before, 1)
        results.append({**record, "previous_score": before, "change": change})
    return results


# --- audit -----------------------------------------------------------------------------------


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str | None,
    details: dict | None = None,
) -> None:
    """Append an audit event. ``details`` must never hold personal data."""
    session.add(AuditEvent(actor=actor, action=action, subject=subject, details=details))


def audit_events(session: Session, *, limit: int = 100) -> list[dict]:
    """The latest ``limit`` audit events, newest first."""
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
    return [
        {
            "id": row.id,
            "at": _format_time(row.at),
            "actor": row.actor,
            "action": row.action,
            "subject": row.subject,
            "details": row.details,
        }
        for row in rows
    ]
