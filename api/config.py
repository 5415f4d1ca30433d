"""Configuration per environment: embedded default, tests, production.

Secrets and the production database come only from the environment
(``SME_EXPORT_SECRET_KEY``, ``DATABASE_URL``). ``DATABASE_URL`` left as None means
SQLite in the app's instance folder, created (and migrated) on first start.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

MEGABYTE = 1024 * 1024


class ConfigError(RuntimeError):
    """The environment does not hold what the chosen configuration needs."""


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

    # flask-smorest / OpenAPI
    API_TITLE = "SME export-readiness scoring"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "docs"
    OPENAPI_SWAGGER_UI_URL = "/api/docs/assets/"  # served from the swagger-ui-bundle package

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

    def __init__(self) -> None:
        self.DATABASE_URL = None  # each test app gets its own database
        self.SECRET_KEY = secrets.token_hex(32)


class ProductionConfig(DefaultConfig):
    """Production: PostgreSQL (or any SQLAlchemy URL) and the secret key from the environment.

    Migrations are run explicitly (``sme-export db upgrade``) before the workers start,
    so that several workers never race to migrate.
    """

    AUTO_MIGRATE = False

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
