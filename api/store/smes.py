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
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Engine, Select, Text, cast, delete, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import StaticPool
from werkzeug.security import check_password_hash, generate_password_hash

from api.db import checkpoint_after_commit
from api.tables import (
    USER_LANGUAGES,
    USER_ROLES,
    ApiKey,
    AuditEvent,
    Batch,
    CohortMember,
    LoginFailure,
    PersonalData,
    Score,
    ScoreAggregate,
    Sme,
    User,
    utcnow,
)
from scoring.contract import fields as F

SCOPES = ("score", "read", "personal", "admin")
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


def may_write_personal(session: Session, actor: str) -> bool:
    """Whether ``actor`` (as the audit log names it) may store personal fields: an API key
    needs the ``personal`` or ``admin`` scope; staff pages and the command line may."""
    if not actor.startswith("key:"):
        return True
    scopes = session.scalar(select(ApiKey.scopes).where(ApiKey.key_id == actor[len("key:") :]))
    return bool(scopes) and bool({"personal", "admin"} & set(scopes))


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
    """The personal fields to write for one SME: those given in ``person``, else in
    ``profile``; one that ``person`` holds as None (and ``profile`` does not give) is
    cleared. Fields in neither are left out: the stored value is kept (a profile sent
    without personal fields never erases them)."""
    row: dict[str, Any] = {"sme_id": sme_id}
    for name in F.PERSONAL_COLUMNS:
        for value in (person.get(name), profile.get(name)):
            if not _missing(value):
                row[name] = str(value)
                break
        else:
            if name in person:
                row[name] = None
    return row


def _upsert_personal(session: Session, rows: Iterable[dict]) -> None:
    """Insert or update personal rows, each changing only the fields it holds; one
    statement per set of fields (a row without any only makes sure the SME has one)."""
    by_fields: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        fields = tuple(name for name in F.PERSONAL_COLUMNS if name in row)
        by_fields.setdefault(fields, []).append(row)
    table = PersonalData.__table__
    for fields, group in by_fields.items():
        upsert = _upsert(session, table)
        if fields:
            statement = upsert.on_conflict_do_update(
                index_elements=["sme_id"], set_={c: upsert.excluded[c] for c in fields}
            )
        else:
            statement = upsert.on_conflict_do_nothing(index_elements=["sme_id"])
        session.execute(statement, group)


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
    personal fields found in ``profiles`` are moved to the personal table. A personal
    field absent from both keeps its stored value; one given as None is cleared. Whether
    the caller may write personal fields at all is the caller's check.
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
        people.setdefault(sme_id, {}).update(_personal_row(sme_id, profile, person))
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
    _upsert_personal(session, people.values())
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
        action="score",
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


def get_sme(session: Session, sme_id: str, *, personal: bool = True) -> dict | None:
    """The SME's latest profile (with its personal fields unless ``personal`` is false),
    cohorts and latest score record."""
    profile = session.scalar(select(Sme.profile).where(Sme.sme_id == sme_id))
    if profile is None:
        return None
    merged = dict(profile)
    if personal:
        person = session.get(PersonalData, sme_id)
        for name in F.PERSONAL_COLUMNS:
            merged[name] = getattr(person, name) if person is not None else None
    latest = session.scalar(
        select(Score.record).where(Score.sme_id == sme_id).order_by(Score.id.desc()).limit(1)
    )
    columns = F.ALL_COLUMNS if personal else F.PROFILE_COLUMNS
    return {
        "sme_id": sme_id,
        "profile": {name: merged.get(name) for name in columns},
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
    sme_id and the actor. On SQLite, deleted rows are overwritten (``secure_delete``) and
    the write-ahead log is checkpointed after the commit, so the file keeps no copy.
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
    audit(session, actor=actor, action="erase", subject=sme_id)
    checkpoint_after_commit(session)
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


def erased_since(session: Session, sme_ids: Iterable[str], since: dt.datetime) -> set[str]:
    """Those of ``sme_ids`` erased at or after ``since``: a batch queued before an erasure
    must not bring the SME back when it runs."""
    wanted = set(sme_ids)
    if not wanted:
        return set()
    erased = session.scalars(
        select(AuditEvent.subject).where(AuditEvent.action == "erase", AuditEvent.at >= since)
    )
    return wanted & set(erased)


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


def create_batch(
    session: Session,
    *,
    cohort: str | None,
    filename: str | None,
    actor: str,
    queued: bool = False,
    lang: str | None = None,
    source: str | None = None,
    staging_path: str | None = None,
    rows_total: int | None = None,
    idempotency_key: str | None = None,
    request_sha256: str | None = None,
    worker: str | None = None,
    lease_seconds: float | None = None,
) -> int:
    """A new batch, its id: "running" (scored by the caller), or with ``queued`` a job for a
    worker, whose input (``source`` "upload" or "records") waits at ``staging_path``.
    A running batch is ``worker``'s (the request scoring it), leased for ``lease_seconds``:
    if the request's process dies, the lease runs out and the batch is failed
    (``fail_abandoned_jobs``).

    An ``idempotency_key`` already used by ``actor`` raises ``IntegrityError`` at flush.
    """
    batch = Batch(
        status="queued" if queued else "running",
        cohort=cohort,
        filename=filename,
        actor=actor,
        row_errors=[],
        lang=lang,
        source=source,
        staging_path=staging_path,
        rows_total=rows_total,
        idempotency_key=idempotency_key,
        request_sha256=request_sha256,
    )
    if not queued and worker is not None and lease_seconds is not None:
        batch.worker, batch.attempts = worker, 1
        batch.lease_expires_at = utcnow() + dt.timedelta(seconds=lease_seconds)
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


def find_batch_by_key(session: Session, *, actor: str, idempotency_key: str) -> tuple[int, str]:
    """``(batch_id, request_sha256)`` of the batch ``actor`` created with ``idempotency_key``;
    raises ``LookupError`` if there is none."""
    row = session.execute(
        select(Batch.id, Batch.request_sha256).where(
            Batch.actor == actor, Batch.idempotency_key == idempotency_key
        )
    ).first()
    if row is None:
        raise LookupError(f"no batch of {actor} with that idempotency key")
    return row.id, row.request_sha256


def _running_batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise LookupError(f"no batch {batch_id}")
    if batch.status != "running":
        raise ValueError(f"batch {batch_id} is {batch.status}, not running")
    return batch


def _end_job(batch: Batch) -> None:
    """A finished batch holds no lease; its staging file is deleted after the commit
    (``finished_staging``)."""
    batch.worker = None
    batch.lease_expires_at = None
    batch.finished_at = utcnow()


def finish_batch(
    session: Session,
    batch_id: int,
    *,
    received: int,
    scored: int,
    rejected: int,
    row_errors: Sequence[dict],
    skipped: Sequence[dict] = (),
) -> None:
    """Mark a running batch complete with its counts, row errors (RowError.to_dict()) and the
    skipped rows that are no profiles (SkippedRow.to_dict(); not counted in ``received``)."""
    if received != scored + rejected:
        raise ValueError(f"received ({received}) != scored ({scored}) + rejected ({rejected})")
    batch = _running_batch(session, batch_id)
    batch.status = "complete"
    batch.received, batch.scored, batch.rejected = received, scored, rejected
    batch.rows_done = batch.rows_total = received
    batch.row_errors = [dict(error) for error in row_errors]
    batch.skipped_rows = [dict(row) for row in skipped]
    _end_job(batch)
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
    _end_job(batch)
    audit(session, actor=batch.actor, action="batch.failed", subject=f"batch/{batch_id}")


def get_batch(session: Session, batch_id: int) -> dict | None:
    """The batch's status, counts, row errors, progress and (when it failed) why.

    Counts and row errors are those of the finished batch: zero and empty while it is
    queued or running, when ``progress`` tells how far it got.
    """
    session.flush()
    # populate_existing: a worker elsewhere may have moved the batch on since it was loaded
    batch = session.get(Batch, batch_id, populate_existing=True)
    if batch is None:
        return None
    return {
        "batch_id": batch.id,
        "status": batch.status,
        "cohort": batch.cohort,
        "filename": batch.filename,
        "received": batch.received,
        "scored": batch.scored,
        "rejected": batch.rejected,
        "row_errors": list(batch.row_errors),
        "skipped": list(batch.skipped_rows or []),
        "created_at": _format_time(batch.created_at),
        "finished_at": _format_time(batch.finished_at) if batch.finished_at else None,
        "failure_reason": batch.failure_reason,
        "progress": {"rows_done": batch.rows_done, "rows_total": batch.rows_total},
    }


def batch_results(session: Session, batch_id: int) -> list[dict] | None:
    """The batch's score records in row order, each with ``previous_score`` (the SME's latest
    score before this batch, or None) and ``change`` (rounded to one decimal, or None).

    None if the batch is unknown or not complete: results are visible only once complete.
    """
    status = session.scalar(select(Batch.status).where(Batch.id == batch_id))
    if status != "complete":
        return None
    return list(iter_batch_results(session, batch_id))


def batch_sme_ids(session: Session, batch_id: int) -> list[str]:
    """The sme_id of each of the batch's score records, in row order."""
    query = select(Score.sme_id).where(Score.batch_id == batch_id).order_by(Score.id)
    return list(session.scalars(query))


def iter_batch_results(session: Session, batch_id: int, *, chunk_size: int = 100) -> Iterator[dict]:
    """``batch_results`` of a complete batch one by one, read ``chunk_size`` records at a
    time (a server-side cursor on PostgreSQL): a large batch is never all in memory."""
    sme_ids = batch_sme_ids(session, batch_id)
    previous = dict(_latest_rows(session, sme_ids, batch_id, Score.score))
    query = select(Score.record).where(Score.batch_id == batch_id).order_by(Score.id)
    # Through the Core connection: the ORM's result buffers every row even with yield_per.
    rows = session.connection().execute(query.execution_options(yield_per=chunk_size))
    for record in rows.scalars():
        before = previous.get(record["sme_id"])
        change = None if before is None else round(record["score"] - before, 1)
        yield {**record, "previous_score": before, "change": change}


# --- batch jobs: the queue of background batches ----------------------------------------------
# A queued batch is a job. A worker claims it (status "running", its name in ``worker``, a
# lease until ``lease_expires_at``) and renews the lease while it works; a job whose lease
# ran out belongs to a worker that stopped, and is claimed again from the start. Every
# change is a conditional UPDATE, so of workers racing for one job exactly one wins, and a
# worker that lost its job can no longer change it. Times are this host's clock (UTC).


@dataclass(frozen=True)
class Job:
    """What a worker needs to run a claimed batch."""

    batch_id: int
    source: str
    staging_path: str
    filename: str | None
    cohort: str | None
    lang: str
    actor: str
    attempts: int
    created_at: dt.datetime


def _lease_ran_out(now: dt.datetime):
    return (Batch.status == "running") & (Batch.lease_expires_at < now)


def claim_job(
    session: Session, *, worker: str, lease_seconds: float, max_attempts: int
) -> Job | None:
    """Claim the oldest queued job, or one whose worker stopped (lease ran out) and that has
    been started fewer than ``max_attempts`` times; None when there is nothing to do."""
    now = utcnow()
    staged = Batch.source.is_not(None)  # a batch scored in a request has no input to run again
    claimable = (Batch.status == "queued") | (
        _lease_ran_out(now) & staged & (Batch.attempts < max_attempts)
    )
    candidates = session.scalars(select(Batch.id).where(claimable).order_by(Batch.id).limit(10))
    for batch_id in candidates.all():
        claimed = session.execute(
            update(Batch)
            .where(Batch.id == batch_id, claimable)
            .values(
                status="running",
                worker=worker,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                attempts=Batch.attempts + 1,
                rows_done=0,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            batch = session.get(Batch, batch_id, populate_existing=True)
            return Job(
                batch_id=batch.id,
                source=batch.source,
                staging_path=batch.staging_path,
                filename=batch.filename,
                cohort=batch.cohort,
                lang=batch.lang or "en",
                actor=batch.actor,
                attempts=batch.attempts,
                created_at=batch.created_at,
            )
    return None


def renew_lease(
    session: Session,
    batch_id: int,
    *,
    worker: str,
    lease_seconds: float,
    rows_done: int | None = None,
    rows_total: int | None = None,
) -> bool:
    """Extend ``worker``'s lease on its running job and record its progress; False when the
    job is no longer the worker's (taken over after its lease ran out, or finished)."""
    values: dict[str, Any] = {"lease_expires_at": utcnow() + dt.timedelta(seconds=lease_seconds)}
    if rows_done is not None:
        values["rows_done"] = rows_done
    if rows_total is not None:
        values["rows_total"] = rows_total
    renewed = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == "running", Batch.worker == worker)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return renewed.rowcount == 1


#: Why a batch scored in a request is failed when the request's process stopped.
REQUEST_STOPPED = (
    "the server stopped while scoring it in the request (killed or restarted); no results "
    "were stored; send the upload again (the same Idempotency-Key may be used again)"
)


def fail_abandoned_jobs(session: Session, *, max_attempts: int) -> int:
    """Mark failed the jobs whose worker stopped for the ``max_attempts``-th time, and the
    batches scored in a request whose process stopped (their input is gone); how many."""
    now = utcnow()
    given_up = _lease_ran_out(now) & ((Batch.attempts >= max_attempts) | Batch.source.is_(None))
    failed = 0
    for batch_id, actor, attempts, source in session.execute(
        select(Batch.id, Batch.actor, Batch.attempts, Batch.source).where(given_up)
    ).all():
        reason = REQUEST_STOPPED
        if source is not None:
            reason = (
                f"the worker running it stopped before the end {attempts} times "
                "(killed or lost); no results were stored"
            )
        marked = session.execute(
            update(Batch)
            .where(Batch.id == batch_id, given_up)
            .values(status="failed", failure_reason=reason, worker=None, lease_expires_at=None)
            .values(finished_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount == 1:
            audit(session, actor=actor, action="batch.failed", subject=f"batch/{batch_id}")
            failed += 1
    return failed


def release_idempotency_key(session: Session, batch_id: int) -> bool:
    """Free the Idempotency-Key of a failed batch (it stored nothing), so that the same
    request with the same key makes a new batch; False if the batch is not failed."""
    released = session.execute(
        update(Batch)
        .where(Batch.id == batch_id, Batch.status == "failed")
        .values(idempotency_key=None)
        .execution_options(synchronize_session=False)
    )
    return released.rowcount == 1


def finished_staging(session: Session) -> dict[int, str]:
    """Staging files of complete or failed batches, by batch id: inputs no longer needed
    (they hold personal data), to delete and then ``forget_staging``."""
    rows = session.execute(
        select(Batch.id, Batch.staging_path).where(
            Batch.status.in_(("complete", "failed")), Batch.staging_path.is_not(None)
        )
    )
    return dict(rows.all())


def staging_in_use(session: Session) -> list[str]:
    """Staging files of queued and running batches: inputs still waiting for a worker."""
    query = select(Batch.staging_path).where(
        Batch.status.in_(("queued", "running")), Batch.staging_path.is_not(None)
    )
    return list(session.scalars(query))


def forget_staging(session: Session, batch_ids: Iterable[int]) -> None:
    """Record that the staging files of ``batch_ids`` are deleted."""
    ids = list(batch_ids)
    if ids:
        session.execute(
            update(Batch)
            .where(Batch.id.in_(ids))
            .values(staging_path=None)
            .execution_options(synchronize_session=False)
        )


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


# --- staff users -----------------------------------------------------------------------------


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


# --- staff web pages -------------------------------------------------------------------------


def _latest_two_scores(session: Session, sme_ids: Select):
    """Each SME's latest (n=1) and previous (n=2) score rows, for the SMEs ``sme_ids``
    selects; one query with a window function (SQLite >= 3.25 and PostgreSQL)."""
    ranked = (
        select(
            Score.sme_id,
            Score.score,
            Score.tier,
            Score.scored_at,
            func.row_number().over(partition_by=Score.sme_id, order_by=Score.id.desc()).label("n"),
        )
        .where(Score.sme_id.in_(sme_ids))
        .subquery()
    )
    return session.execute(
        select(ranked.c.sme_id, ranked.c.n, ranked.c.score, ranked.c.tier, ranked.c.scored_at)
        .where(ranked.c.n <= 2)
        .order_by(ranked.c.sme_id, ranked.c.n)
    )


def cohort_names(session: Session) -> list[tuple[str, int]]:
    """Every cohort with its number of SMEs, by name.

    Names are sorted here, by code point, not by the database: PostgreSQL orders text by
    its collation (``C2`` after ``c1`` in en_US), SQLite by code point, and the first
    cohort is the one the pages open by default.
    """
    rows = session.execute(select(CohortMember.cohort, func.count()).group_by(CohortMember.cohort))
    return sorted((cohort, count) for cohort, count in rows)


def cohort_rows(session: Session, cohort: str) -> list[dict]:
    """The SMEs of a cohort (no personal fields), by sme_id in code point order: name,
    sector, target markets, latest score and tier, and the previous score and tier with
    the change (None for an SME scored once)."""
    members = select(CohortMember.sme_id).where(CohortMember.cohort == cohort)
    smes = sorted(
        session.execute(
            select(Sme.sme_id, Sme.name, Sme.sector, Sme.profile).where(Sme.sme_id.in_(members))
        ),
        key=lambda row: row.sme_id,
    )
    scores: dict[str, dict[int, Any]] = {}
    for row in _latest_two_scores(session, members):
        scores.setdefault(row.sme_id, {})[row.n] = row
    out = []
    for sme_id, name, sector, profile in smes:
        latest = scores.get(sme_id, {}).get(1)
        previous = scores.get(sme_id, {}).get(2)
        out.append(
            {
                "sme_id": sme_id,
                "name": name,
                "sector": sector,
                "target_markets": list(profile.get("target_markets") or []),
                "score": latest.score if latest else None,
                "tier": latest.tier if latest else None,
                "scored_at": _format_time(latest.scored_at) if latest else None,
                "previous_score": previous.score if previous else None,
                "previous_tier": previous.tier if previous else None,
                "change": round(latest.score - previous.score, 1) if previous else None,
            }
        )
    return out


def sector_category_averages(session: Session, sector: str) -> dict[str, float]:
    """The mean category scores of the latest scores of every SME in ``sector`` (categories
    that apply to none of them are left out)."""
    latest = select(func.max(Score.id)).where(Score.sector == sector).group_by(Score.sme_id)
    sums: dict[str, list[float]] = {}
    # In a fixed order: a float sum depends on the order of its terms.
    records = select(Score.record).where(Score.id.in_(latest)).order_by(Score.id)
    for record in session.scalars(records):
        for category, value in record["category_scores"].items():
            if value is not None:
                total = sums.setdefault(category, [0.0, 0])
                total[0] += value
                total[1] += 1
    return {category: round(total / count, 1) for category, (total, count) in sums.items()}


def sector_scored_count(session: Session, sector: str) -> int:
    """How many SMEs ``sector_category_averages`` rests on: those scored in ``sector``."""
    return session.scalar(
        select(func.count(func.distinct(Score.sme_id))).where(Score.sector == sector)
    )


# --- data protection: subject access, retention, the processing log ---------------------------
# ``sme_id`` is the pseudonymous key of an SME: audit subjects and details name SMEs only by
# it, so the processing log survives erasure without keeping anything that identifies a
# person once the SME's own rows are gone.


def subject_access(session: Session, sme_id: str) -> dict | None:
    """Everything held on ``sme_id`` (the data subject's right of access): profile and
    personal data, cohorts, every score, the batches it appeared in and the processing-log
    events about it or those batches. None when nothing is held."""
    sme = session.scalar(select(Sme).where(Sme.sme_id == sme_id))
    batch_ids = set(
        session.scalars(
            select(Score.batch_id).where(Score.sme_id == sme_id, Score.batch_id.is_not(None))
        )
    )
    named_in_errors = session.execute(
        select(Batch.id, Batch.row_errors).where(
            cast(Batch.row_errors, Text).contains(sme_id, autoescape=True)
        )
    ).all()
    row_errors = {
        batch_id: [e for e in errors if e.get("sme_id") == sme_id]
        for batch_id, errors in named_in_errors
    }
    row_errors = {batch_id: errors for batch_id, errors in row_errors.items() if errors}
    batch_ids |= set(row_errors)
    if sme is None and not batch_ids:
        return None
    batches = []
    for batch_id in sorted(batch_ids):
        batch = session.get(Batch, batch_id)
        batches.append(
            {
                "batch_id": batch_id,
                "status": batch.status,
                "cohort": batch.cohort,
                "filename": batch.filename,
                "created_at": _format_time(batch.created_at),
                "row_errors": row_errors.get(batch_id, []),
            }
        )
    subjects = [sme_id, *(f"batch/{batch_id}" for batch_id in sorted(batch_ids))]
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.subject.in_(subjects)).order_by(AuditEvent.id)
    )
    person = session.get(PersonalData, sme_id)
    return {
        "sme_id": sme_id,
        "name": sme.name if sme else None,
        "created_at": _format_time(sme.created_at) if sme else None,
        "last_activity_at": _format_time(sme.updated_at) if sme else None,
        "profile": dict(sme.profile) if sme else None,
        "personal_data": (
            {name: getattr(person, name) for name in F.PERSONAL_COLUMNS} if person else None
        ),
        "cohorts": _cohorts_of(session, [sme_id])[sme_id],
        "scores": [
            {"batch_id": batch_id, **record}
            for batch_id, record in session.execute(
                select(Score.batch_id, Score.record)
                .where(Score.sme_id == sme_id)
                .order_by(Score.id)
            )
        ],
        "batches": batches,
        "processing_log": [_event(row) for row in events],
    }


def inactive_smes(session: Session, *, before: dt.datetime) -> list[str]:
    """The sme_ids whose last activity (profile stored or scored) is older than ``before``."""
    return list(
        session.scalars(select(Sme.sme_id).where(Sme.updated_at < before).order_by(Sme.sme_id))
    )


def _old_row_error_batches(session: Session, before: dt.datetime) -> list[int]:
    rows = session.execute(
        select(Batch.id, Batch.row_errors).where(
            Batch.created_at < before, Batch.status.in_(("complete", "failed"))
        )
    )
    return [
        batch_id
        for batch_id, errors in rows
        if any(e.get("sme_id") is not None or _unredacted(e) for e in errors)
    ]


def _unredacted(error: dict) -> bool:
    return any(e.get("message") != ERASED_MESSAGE for e in error.get("errors", []))


def purge_expired(
    session: Session, *, before: dt.datetime, actor: str, dry_run: bool = False
) -> dict:
    """Retention: erase every SME inactive since before ``before`` (``erase_sme``: profile,
    personal data, cohorts; scores folded into anonymous aggregates) and redact the row
    errors of batches uploaded before it (they may quote rejected personal values).

    Returns what was (or, with ``dry_run``, would be) purged; a real purge is recorded in
    the processing log as ``purge``, besides the ``erase`` event of each SME.
    """
    sme_ids = inactive_smes(session, before=before)
    batch_ids = _old_row_error_batches(session, before)
    summary = {
        "before": _format_time(before),
        "dry_run": dry_run,
        "smes": sme_ids,
        "batches_redacted": batch_ids,
    }
    if dry_run:
        return summary
    for sme_id in sme_ids:
        erase_sme(session, sme_id, actor=actor)
    for batch_id in batch_ids:
        batch = session.get(Batch, batch_id)
        batch.row_errors = [
            {
                "row": e.get("row"),
                "sme_id": None,
                "errors": [
                    {"field": x.get("field"), "message": ERASED_MESSAGE}
                    for x in e.get("errors", [])
                ],
            }
            for e in batch.row_errors
        ]
    audit(
        session,
        actor=actor,
        action="purge",
        subject=None,
        details={
            "before": summary["before"],
            "smes_erased": len(sme_ids),
            "batches_redacted": len(batch_ids),
        },
    )
    return summary


def _event(row: AuditEvent) -> dict:
    return {
        "id": row.id,
        "at": _format_time(row.at),
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "details": row.details,
    }


def processing_log(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict], int]:
    """One page of processing-log events matching every filter given, newest first, and
    how many match. ``since`` is inclusive, ``until`` exclusive."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    query = select(AuditEvent)
    for column, value in (
        (AuditEvent.actor, actor),
        (AuditEvent.action, action),
        (AuditEvent.subject, subject),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(AuditEvent.id.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    return [_event(row) for row in rows], total


# --- governance: stored profiles for ruleset impact and drift ---------------------------------


def cohort_profiles(session: Session, cohort: str) -> list[dict]:
    """The latest stored profile (contract fields, no personal data) of each SME in
    ``cohort``, by sme_id."""
    rows = session.scalars(
        select(Sme.profile)
        .join(CohortMember, CohortMember.sme_id == Sme.sme_id)
        .where(CohortMember.cohort == cohort)
        .order_by(Sme.sme_id)
    )
    return list(rows)


def recent_profiles(session: Session, *, since: dt.datetime, limit: int = 100_000) -> list[dict]:
    """The latest stored profile of each SME scored since ``since`` (most recent first)."""
    recent = (
        select(Score.sme_id, func.max(Score.id).label("last"))
        .where(Score.scored_at >= since)
        .group_by(Score.sme_id)
        .subquery()
    )
    rows = session.scalars(
        select(Sme.profile)
        .join(recent, recent.c.sme_id == Sme.sme_id)
        .order_by(recent.c.last.desc())
        .limit(limit)
    )
    return list(rows)
