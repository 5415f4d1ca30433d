"""The database tables, as SQLAlchemy 2 ORM models.

Personal fields (owner, contacts, district) live only in ``personal_data``, one row per
SME, so that erasure is one delete; score rows carry no personal data. Scores of erased
SMEs survive only as counts and sums in ``score_aggregates``. Types are portable
(SQLite and PostgreSQL); timestamps are stored and returned as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SME_ID_LENGTH = 64  # scoring.contract.fields.SME_ID_PATTERN
BATCH_STATUSES = ("queued", "running", "complete", "failed")
DECISIONS = ("support", "no_support")  # scoring.contract.outcomes.DECISIONS
DELIVERY_STATUSES = ("pending", "sending", "delivered", "failed")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp with time zone that always comes back aware, in UTC (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it from the class)
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def _sme_fk() -> ForeignKey:
    return ForeignKey("smes.sme_id", ondelete="CASCADE")


class Sme(Base):
    """An SME: its latest profile (contract fields, no personal fields)."""

    __tablename__ = "smes"

    id: Mapped[int] = mapped_column(primary_key=True)
    sme_id: Mapped[str] = mapped_column(String(SME_ID_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(32), index=True)
    profile: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PersonalData(Base):
    """The personal fields of one SME (scoring.contract.fields.PERSONAL_COLUMNS); erasable."""

    __tablename__ = "personal_data"

    sme_id: Mapped[str] = mapped_column(String(SME_ID_LENGTH), _sme_fk(), primary_key=True)
    owner_gender: Mapped[str | None] = mapped_column(String(16))
    owner_name: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    district: Mapped[str | None] = mapped_column(String(100))


class CohortMember(Base):
    """Membership of an SME in a named cohort (a programme intake, a district drive...)."""

    __tablename__ = "cohort_members"

    cohort: Mapped[str] = mapped_column(String(200), primary_key=True)
    sme_id: Mapped[str] = mapped_column(
        String(SME_ID_LENGTH), _sme_fk(), primary_key=True, index=True
    )


class Batch(Base):
    """An uploaded file: created ``running`` (scored in the request) or ``queued`` (a
    background job, see ``api.services.batch_jobs``), then ``complete`` or ``failed``."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in BATCH_STATUSES)),
            name="status",
        ),
        UniqueConstraint("actor", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    cohort: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(Text)
    received: Mapped[int] = mapped_column(default=0)
    scored: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    row_errors: Mapped[list[Any]] = mapped_column(default=list)
    #: Spreadsheet rows that are no profiles (totals, notes, signatures): ``{row, reason}``;
    #: then what the reader assumed about the file (its header, columns read by another name,
    #: merged header cells, blank rows skipped): ``{code, message, ...}``. ``get_batch``
    #: gives the two apart, as ``skipped`` and ``notices``.
    skipped_rows: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    actor: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(Text)

    # --- background jobs: progress, the lease of the worker running it, idempotency ---
    #: How many input rows are validated and scored so far, of how many (None: not known yet).
    rows_done: Mapped[int] = mapped_column(default=0, server_default="0")
    rows_total: Mapped[int | None]
    #: A queued batch's input, kept until it is finished: "upload" (a file) or "records".
    source: Mapped[str | None] = mapped_column(String(16))
    staging_path: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str | None] = mapped_column(String(8))
    #: Runs started so far; the worker holding the job and until when, unless it renews.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    worker: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[dt.datetime | None]
    #: The client's ``Idempotency-Key`` (unique per actor) and the SHA-256 of its request.
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_sha256: Mapped[str | None] = mapped_column(String(64))


class Score(Base):
    """One score of one SME; ``record`` is the full SPEC section 4 record."""

    __tablename__ = "scores"
    __table_args__ = (
        Index(None, "sme_id", "id"),
        Index(None, "batch_id", "id"),
        Index(None, "sector", "sme_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sme_id: Mapped[str] = mapped_column(String(SME_ID_LENGTH), _sme_fk())
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    sector: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(32))
    rules_score: Mapped[float] = mapped_column(Float)
    ml_probability: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(100))
    ruleset_version: Mapped[str] = mapped_column(String(100))
    scored_at: Mapped[dt.datetime]
    record: Mapped[dict[str, Any]]
    #: ``record["category_scores"]`` again: what a sector's averages read
    category_scores: Mapped[dict[str, Any] | None]


class ScoreAggregate(Base):
    """Anonymous totals of erased SMEs' scores: what remains of them after erasure."""

    __tablename__ = "score_aggregates"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)
    tier: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(100), primary_key=True)
    ruleset_version: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    score_sum: Mapped[float] = mapped_column(Float)


class SupportDecision(Base):
    """What the office decided for one SME (support, and how, or not, and why), with the
    score it had then: ``score_id`` links the stored score and its summary is copied, so a
    later rescore never changes what the decision was based on. ``profile`` is the
    profile as it was scored (no personal fields): the training row of the decision."""

    __tablename__ = "support_decisions"
    __table_args__ = (
        CheckConstraint(
            "decision IN ({})".format(", ".join(f"'{d}'" for d in DECISIONS)), name="decision"
        ),
        Index(None, "sme_id", "decided_on"),
        Index(None, "decided_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sme_id: Mapped[str] = mapped_column(String(SME_ID_LENGTH), _sme_fk())
    decision: Mapped[str] = mapped_column(String(16))
    support_kind: Mapped[str | None] = mapped_column(String(32))
    support_other: Mapped[str | None] = mapped_column(Text)
    target_market: Mapped[str | None] = mapped_column(String(16))
    decided_on: Mapped[dt.date] = mapped_column(Date)
    #: Who decided (a person or a committee, as staff write it); ``recorded_by`` is the actor.
    decided_by: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    #: The shortlist it came from: its source, capacity, market, sector cap and the position.
    shortlist: Mapped[dict[str, Any] | None]
    cohort: Mapped[str | None] = mapped_column(String(200))
    score_id: Mapped[int] = mapped_column(ForeignKey("scores.id", ondelete="CASCADE"))
    sector: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(32))
    ml_probability: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(100))
    ruleset_version: Mapped[str] = mapped_column(String(100))
    scored_at: Mapped[dt.datetime]
    profile: Mapped[dict[str, Any]]
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ExportFollowUp(Base):
    """One follow-up of an SME: had it exported by then, since when, where, how much, and
    how the office learned it. No buyer's contact details are collected."""

    __tablename__ = "export_followups"
    __table_args__ = (Index(None, "sme_id", "followup_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sme_id: Mapped[str] = mapped_column(String(SME_ID_LENGTH), _sme_fk())
    followup_date: Mapped[dt.date] = mapped_column(Date)
    exported: Mapped[bool] = mapped_column(Boolean)
    first_export_date: Mapped[dt.date | None] = mapped_column(Date)
    destination_markets: Mapped[list[Any]] = mapped_column(default=list)
    export_value_usd: Mapped[float | None] = mapped_column(Float)
    contracts: Mapped[int | None]
    learned_via: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutcomeAggregate(Base):
    """Anonymous counts of erased SMEs' decisions by month, kind, tier and derived label
    ("1", "0" or "unknown"): what remains of them after erasure."""

    __tablename__ = "outcome_aggregates"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    decision: Mapped[str] = mapped_column(String(16), primary_key=True)
    support_kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    tier: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(8), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ApiKey(Base):
    """An API key: only the SHA-256 of its secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """Who did what to which subject, and when. Append-only: never updated or deleted."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]


class AppendOnlyError(RuntimeError):
    """An audit event was about to be changed or deleted."""


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_audit_change(mapper, connection, target) -> None:
    raise AppendOnlyError("audit events are append-only")


# --- events for other systems: the outbox, webhook subscriptions and their deliveries ------


class Event(Base):
    """A change other systems hear of, written in the transaction of the change
    (``store.emit``). ``commit_seq`` numbers events in the order their transactions
    committed, given at commit (``api.store.events``): the feed's cursor. ``sme_id`` is
    the SME the event is about, if one; it has no foreign key, so that erasure can leave
    the event with nothing but that pseudonymous id."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("commit_seq"), Index(None, "sme_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    sme_id: Mapped[str | None] = mapped_column(String(SME_ID_LENGTH))
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    commit_seq: Mapped[int | None] = mapped_column(BigInteger)


class WebhookSubscription(Base):
    """A system that wants events POSTed to ``url``, signed with ``secret`` (kept as given:
    the service must sign with it; it is shown only when the subscription is created).
    ``types`` None means every type. ``cursor`` is the ``commit_seq`` up to which its
    deliveries are made. Too many failed deliveries in a row disable it, with the reason."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    types: Mapped[list[Any] | None]
    secret: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[dt.datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one subscription: ``pending`` until its next attempt is due,
    ``sending`` while a worker holds it (until ``lease_expires_at``), then ``delivered``
    or, after the last retry, ``failed``. The last attempt's answer is kept."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in DELIVERY_STATUSES)),
            name="status",
        ),
        UniqueConstraint("subscription_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    worker: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[dt.datetime | None]
    last_attempt_at: Mapped[dt.datetime | None]
    status_code: Mapped[int | None]
    duration_ms: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]


# --- staff users of the web pages ----------------------------------------------------------

USER_ROLES = ("officer", "lead", "admin")
USER_LANGUAGES = ("id", "en")


class User(Base):
    """A staff account of the web pages; only a salted hash of the password is stored.

    ``failed_logins`` and ``locked_until`` are no longer used (lockout is per account and
    client address: ``LoginFailure``); kept for older rows. A disabled account keeps its
    row (the audit log names it) but cannot log in.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ({})".format(", ".join(f"'{r}'" for r in USER_ROLES)), name="role"
        ),
        CheckConstraint(
            "language IN ({})".format(", ".join(f"'{lang}'" for lang in USER_LANGUAGES)),
            name="language",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2), default="id")
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[dt.datetime | None]
    #: Copied into each web session at login; logging out bumps it, so every session cookie
    #: of the account issued before (a copied one too) no longer opens a page.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")


class LoginFailure(Base):
    """Wrong passwords for one account from one client address, since the last good login
    from there; too many lock that pair (not the account: a stranger elsewhere cannot lock
    the real user out). The address is kept only as an HMAC keyed with the app's secret."""

    __tablename__ = "login_failures"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address_hmac: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None]
    last_failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# --- data protection: retention and the processing log ---------------------------------------

#: Purge finds SMEs whose last activity (last profile change or score) is past retention.
Index("ix_smes_updated_at", Sme.updated_at)
#: The processing log is queried by actor, action and subject (newest first).
Index("ix_audit_events_actor_id", AuditEvent.actor, AuditEvent.id)
Index("ix_audit_events_action_id", AuditEvent.action, AuditEvent.id)
Index("ix_audit_events_subject_id", AuditEvent.subject, AuditEvent.id)


# --- self-assessment by the SME: invitations and the profiles SMEs fill in -----------------

INVITATION_KINDS = ("cohort", "sme")
SELF_ASSESSMENT_STATUSES = ("draft", "submitted", "accepted", "rejected")


class Invitation(Base):
    """A link an office sends an SME so that it fills its own profile: for a new SME of a
    cohort (``kind`` "cohort") or for one SME already held (``kind`` "sme"). Only the
    SHA-256 of the link's token is kept. ``sme_id`` is the profile the link may fill, the
    office's or a generated one; it has no foreign key, since a cohort's SME is stored only
    when a submission is accepted. The link works until ``expires_at``, until revoked and
    for ``max_uses`` submissions; its rows are deleted after ``purge_after``."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint(
            "kind IN ({})".format(", ".join(f"'{k}'" for k in INVITATION_KINDS)), name="kind"
        ),
        Index(None, "sme_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    sme_id: Mapped[str] = mapped_column(String(SME_ID_LENGTH))
    cohort: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="id")
    #: Whether the SME sees its (preliminary) score and action plan after submitting.
    show_result: Mapped[bool] = mapped_column(Boolean, default=False)
    max_uses: Mapped[int] = mapped_column(default=1)
    uses: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[dt.datetime]
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(Text)
    purge_after: Mapped[dt.datetime]


class SelfAssessment(Base):
    """What an SME filled in through an invitation: a ``draft`` it may come back to, then
    ``submitted`` (with its consent to the processing of its personal data), then
    ``accepted`` (scored and stored as the SME's profile, ``score_id``) or ``rejected``
    (with the reason the SME is shown) by an officer. ``answers`` are the profile fields
    as entered (numbers that could not be read stay as typed), ``personal`` the owner
    and contact fields, kept apart."""

    __tablename__ = "self_assessments"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in SELF_ASSESSMENT_STATUSES)),
            name="status",
        ),
        Index(None, "invitation_id", "id"),
        Index(None, "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    personal: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(2), default="id")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    saved_at: Mapped[dt.datetime | None]
    submitted_at: Mapped[dt.datetime | None]
    #: The consent text accepted: its version, the SHA-256 of the text as shown, its language.
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_sha256: Mapped[str | None] = mapped_column(String(64))
    consent_language: Mapped[str | None] = mapped_column(String(2))
    consented_at: Mapped[dt.datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[dt.datetime | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    #: The score stored when the submission was accepted: the score's origin.
    score_id: Mapped[int | None] = mapped_column(ForeignKey("scores.id", ondelete="SET NULL"))
