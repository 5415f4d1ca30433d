"""Configuration per environment: embedded default, tests, production.

Secrets and the production database come only from the environment
(``SME_EXPORT_SECRET_KEY``, ``DATABASE_URL``). ``DATABASE_URL`` left as None means
SQLite in the app's instance folder, created (and migrated) on first start.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping

MEGABYTE = 1024 * 1024


class ConfigError(RuntimeError):
    """The environment does not hold what the chosen configuration needs."""


def _rate_limit_from_environment(default: str) -> str | None:
    value = os.environ.get("SME_EXPORT_RATE_LIMIT", default).strip()
    return None if value.lower() in ("", "off", "none") else value


class DefaultConfig:
    """Embedded default: one machine, SQLite in the instance folder, migrations on start."""

    DATABASE_URL: str | None = None
    SQLITE_FILENAME = "sme_export.db"
    AUTO_MIGRATE = True

    # Limits: answered with 413 (upload size) or 422 (rows, page size), never a crash.
    MAX_CONTENT_LENGTH = 20 * MEGABYTE
    BATCH_MAX_ROWS = 100_000
    PAGE_SIZE_DEFAULT = 50
    PAGE_SIZE_MAX = 500

    # The scorer: None means the shipped defaults (models/ACTIVE, the default ruleset).
    MODELS_DIR: str | None = None
    RULESET_PATH: str | None = None
    #: After a failed load, how long to answer 503 before trying to load again.
    SCORER_RETRY_SECONDS = 30.0
    #: An already loaded Scorer to use instead of loading one (tests share one this way).
    SCORER = None

    # Model and ruleset governance (docs/governance.md)
    #: Folder of registered ruleset versions with its ACTIVE pointer; None: `rulesets/`
    #: beside the package (SME_EXPORT_RULESETS_DIR). Without ACTIVE the packaged default.
    RULESETS_DIR: str | None = None
    #: How often a running service looks for a newly activated model or ruleset.
    SCORER_CHECK_SECONDS = 2.0
    #: The labelled data the active model was trained on: the reference for drift and the
    #: model card's charts (the shipped synthetic data by default).
    TRAINING_DATA_PATH: str | None = None
    #: Drift compares the training data with profiles scored in the last this many days.
    DRIFT_WINDOW_DAYS = 90

    # flask-smorest / OpenAPI
    API_TITLE = "SME export-readiness scoring"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/api/docs/assets/"  # served from the swagger-ui-bundle package

    # Staff web pages: signed-cookie sessions that expire, CSRF on every form, lockout.
    PERMANENT_SESSION_LIFETIME = dt.timedelta(hours=8)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # True in ProductionConfig (HTTPS only)
    WTF_CSRF_TIME_LIMIT = None  # a form's token lives as long as the session
    #: Wrong passwords in a row that lock an account for LOGIN_LOCK_MINUTES, from the
    #: client address they came from only (elsewhere the account can still log in).
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_MINUTES = 15
    #: Failed logins per client address, in the `limits` notation; beyond it 429. None: off.
    LOGIN_RATE_LIMIT: str | None = "10/minute"
    #: How new staff passwords are hashed (werkzeug's method names).
    USER_HASH_METHOD = "scrypt"

    # Faults, rate limits and personal data (docs/data-protection.md)
    #: While the database is unavailable, the Retry-After of the 503 answers.
    DATABASE_RETRY_SECONDS = 5
    #: Requests per API key, in the `limits` notation ("600/minute"); None: no limit.
    #: The environment's SME_EXPORT_RATE_LIMIT overrides it ("off": no limit).
    RATE_LIMIT: str | None = _rate_limit_from_environment("600/minute")
    #: Where request counts are kept: per process ("memory://"), or shared by every worker
    #: ("redis://host:6379"; needs the `redis` package).
    RATELIMIT_STORAGE_URI = os.environ.get("SME_EXPORT_RATELIMIT_STORAGE_URI", "memory://")
    #: Personal data is deleted this many days after the SME's last activity (5 years).
    PERSONAL_DATA_RETENTION_DAYS = 1826

    # Readiness reports as PDF (api.services.reports; README "Reports")
    #: The office named on every report, and how an SME reaches it; the environment's
    #: SME_EXPORT_OFFICE_NAME and SME_EXPORT_OFFICE_CONTACT set them (no contact: none shown).
    OFFICE_NAME = os.environ.get("SME_EXPORT_OFFICE_NAME") or (
        "Dinas Perdagangan dan Perindustrian Kota Bandung"
    )
    OFFICE_CONTACT = os.environ.get("SME_EXPORT_OFFICE_CONTACT", "")
    #: An SME's page and report draw its category scores beside its sector's averages, which
    #: take the latest score of every SME in the sector to compute: each process keeps them
    #: this many seconds before reading them again.
    SECTOR_AVERAGES_SECONDS = 60.0
    #: A cohort report holds at most this many SMEs (one page each); more is answered 422.
    #: Each page takes about half a second and 5 MB while the report is drawn.
    REPORT_MAX_SMES = 200

    # Background batches (api.services.batch_service, api.services.batch_jobs;
    # README "Background batches").
    #: Uploads larger than this (bytes), or JSON arrays of more profiles than this, are
    #: answered 202 and scored by a worker; smaller ones are scored in the request.
    BATCH_BACKGROUND_BYTES = 1 * MEGABYTE
    BATCH_BACKGROUND_ROWS = 2_000
    #: Where queued inputs wait for a worker (None: ``batch-staging`` in the instance
    #: folder; the environment's SME_EXPORT_BATCH_STAGING_DIR sets it); separate worker
    #: hosts need it on a shared file system. ``sme-export backup`` copies it.
    BATCH_STAGING_DIR: str | None = os.environ.get("SME_EXPORT_BATCH_STAGING_DIR") or None
    #: Run queued batches in a thread of this process (off: run ``sme-export worker``).
    BATCH_RUNNER = True
    #: Rows validated and scored per step; progress and the lease are updated after each.
    BATCH_CHUNK_ROWS = 2_000
    #: A worker that has not renewed its lease for this long is taken to be gone, and its
    #: job is run again from the start, at most BATCH_MAX_ATTEMPTS times in all.
    BATCH_LEASE_SECONDS = 60.0
    BATCH_MAX_ATTEMPTS = 3
    #: How often an idle worker looks for queued batches.
    BATCH_POLL_SECONDS = 2.0
    #: Tests only: a pause after each scored chunk, to stop a worker in mid-batch.
    BATCH_CHUNK_PAUSE_SECONDS = 0.0

    # Events and webhooks (api.store.events, api.services.webhooks; README "Integration").
    #: Webhook receivers on 127.0.0.1, ::1 or localhost (over http too); off in production.
    WEBHOOKS_ALLOW_LOOPBACK = True
    #: How long to wait for a receiver to connect and for each read of its answer.
    WEBHOOKS_TIMEOUT_SECONDS = 5.0
    #: Waits before each retry of a delivery that was not answered 2xx (each +- the jitter
    #: share); after the last, the delivery is failed: 8 attempts over about 3 hours.
    WEBHOOKS_RETRY_SECONDS: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 5400)
    WEBHOOKS_RETRY_JITTER = 0.2
    #: Failed deliveries in a row that disable a subscription (the reason is kept).
    WEBHOOKS_DISABLE_AFTER_FAILURES = 5
    #: A worker holds a delivery it sends this long; if it stops, another sends it again.
    WEBHOOKS_LEASE_SECONDS = 60.0
    #: Deliveries a worker sends between two looks at the batch queue.
    WEBHOOKS_PER_PASS = 20
    #: Tests only: a pause between claiming a delivery and sending it.
    WEBHOOKS_SEND_PAUSE_SECONDS = 0.0

    # Self-assessment by the SME (api.services.self_assessment; README "Self-assessment by
    # the SME", docs/data-protection.md).
    #: Days an invitation's link works when its maker gives none (at most 365).
    SELF_ASSESSMENT_EXPIRY_DAYS = 30
    #: Drafts and returned submissions are deleted (``sme-export purge``) this many days
    #: after their invitation expires, or is withdrawn if sooner.
    SELF_ASSESSMENT_RETENTION_DAYS = 90
    #: Requests to one link, and to any link from one client address, in the `limits`
    #: notation; beyond them a 429 page with Retry-After. Counted in RATELIMIT_STORAGE_URI
    #: under the token's hash and a keyed hash of the address. None: no limit.
    SELF_ASSESSMENT_TOKEN_RATE_LIMIT: str | None = "60/minute"  # noqa: S105 - not a secret
    SELF_ASSESSMENT_ADDRESS_RATE_LIMIT: str | None = "300/minute"

    def __init__(self) -> None:
        # A DATABASE_URL in the environment is honoured by the embedded default too.
        self.DATABASE_URL = os.environ.get("DATABASE_URL") or None
        # No secret in the code: the environment's, else a random one for this process.
        self.SECRET_KEY = os.environ.get("SME_EXPORT_SECRET_KEY") or secrets.token_hex(32)


class TestConfig(DefaultConfig):
    """Tests: each app is given its own database URL (and usually a loaded Scorer)."""

    __test__ = False  # not a pytest test class
    TESTING = True
    SCORER_RETRY_SECONDS = 0.0
    SECTOR_AVERAGES_SECONDS = 0.0  # read again on every page: tests see each new score
    USER_HASH_METHOD = "pbkdf2:sha256:1000"  # cheap: test accounts only
    RATE_LIMIT = None  # tests that need it turn it on
    LOGIN_RATE_LIMIT = None
    BATCH_RUNNER = False  # tests run queued batches themselves, or turn it on

    def __init__(self) -> None:
        self.DATABASE_URL = None  # each test app gets its own database
        self.SECRET_KEY = secrets.token_hex(32)


class ProductionConfig(DefaultConfig):
    """Production: PostgreSQL (or any SQLAlchemy URL) and the secret key from the environment.

    Migrations are run explicitly (``sme-export db upgrade``) before the workers start,
    so that several workers never race to migrate.
    """

    AUTO_MIGRATE = False
    SESSION_COOKIE_SECURE = True
    BATCH_RUNNER = False  # queued batches are run by `sme-export worker` processes
    WEBHOOKS_ALLOW_LOOPBACK = False

    def __init__(self) -> None:
        missing = [
            name for name in ("DATABASE_URL", "SME_EXPORT_SECRET_KEY") if not os.environ.get(name)
        ]
        if missing:
            raise ConfigError(
                f"production configuration needs {' and '.join(missing)} in the environment"
            )
        self.DATABASE_URL = os.environ["DATABASE_URL"]
        self.SECRET_KEY = os.environ["SME_EXPORT_SECRET_KEY"]


CONFIGS = {"default": DefaultConfig, "test": TestConfig, "production": ProductionConfig}


def load_config(config: str | type | object | Mapping | None) -> tuple[object, Mapping]:
    """The config object to load and the overrides to apply on top of it.

    ``config`` is a name from ``CONFIGS``, a config class or object, a mapping of overrides
    (on top of ``TestConfig`` when it sets ``TESTING``, else ``DefaultConfig``), or None
    for the name in ``SME_EXPORT_CONFIG`` (default ``"default"``).
    """
    if config is None:
        config = os.environ.get("SME_EXPORT_CONFIG", "default")
    if isinstance(config, Mapping):
        base = TestConfig if config.get("TESTING") else DefaultConfig
        return base(), config
    if isinstance(config, str):
        try:
            config = CONFIGS[config]
        except KeyError:
            raise ConfigError(
                f"unknown configuration {config!r}; use one of {', '.join(CONFIGS)}"
            ) from None
    if isinstance(config, type):
        config = config()
    return config, {}
