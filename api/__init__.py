"""The Flask service: HTTP API over the scoring package, with storage and API keys.

The only way to get an app is ``create_app``. Embedded default (SQLite in the instance
folder, migrated on first start)::

    sme-export serve --host 127.0.0.1 --port 8000

Production (PostgreSQL; migrate once, then start the workers; each worker loads the
model after the fork, on its first scoring request)::

    pip install -e '.[serve]'
    export SME_EXPORT_CONFIG=production DATABASE_URL=postgresql+psycopg://... \\
        SME_EXPORT_SECRET_KEY=...
    sme-export db upgrade
    gunicorn -w 2 -b 127.0.0.1:8000 'api:create_app()'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from api.config import load_config

if TYPE_CHECKING:  # Flask is imported when an app is made: the command line starts without it
    from flask import Flask


def create_app(config: str | type | object | Mapping | None = None) -> Flask:
    """A configured app; ``config`` as in ``api.config.load_config``."""
    from flask import Flask

    app = Flask(__name__, instance_relative_config=True)
    configure(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def configure(app: Flask, config: str | type | object | Mapping | None) -> None:
    from api.http.json_answers import OrjsonProvider

    base, overrides = load_config(config)
    app.config.from_object(base)
    app.config.update(overrides)
    app.json = OrjsonProvider(app)  # keeps the records' field order


def register_extensions(app: Flask) -> None:
    from api import db, migrate, web
    from api.http import conditional, openapi, rate_limit, request_guard
    from api.services import batch_jobs, scorer

    db.init_app(app)
    migrate.init_app(app)
    request_guard.init_app(app)
    scorer.init_app(app)
    openapi.init_app(app)
    conditional.init_app(app)
    rate_limit.init_app(app)
    batch_jobs.init_app(app)
    web.init_app(app)


def register_blueprints(app: Flask) -> None:
    from api.blueprints import BLUEPRINTS

    rest = app.extensions["sme_export.rest"]
    for blueprint in BLUEPRINTS:
        rest.register_blueprint(blueprint)
    from api.web import WEB_BLUEPRINTS

    for blueprint in WEB_BLUEPRINTS:
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from api.http.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    """Nothing to add: the service's commands are ``sme-export`` ones (``api.cli``: serve,
    db, keys), which work without the ``flask`` command; flask-smorest has already added
    ``flask --app api openapi print|write`` for the OpenAPI document."""
