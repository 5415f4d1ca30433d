"""``sme-export db upgrade`` and ``sme-export keys create|revoke|list`` on a temporary SQLite."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from api import store
from api.cli import main
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.migrate import head_revision

KEY = re.compile(r"^sme_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def url(tmp_path) -> str:
    return sqlite_url(tmp_path / "cli.db")


@pytest.fixture
def run(url):
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(main, list(args), env={"DATABASE_URL": url, **(env or {})})

    return invoke


@pytest.fixture
def migrated(run):
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output


def _session(url):
    engine = make_engine(url)
    return make_sessionmaker(engine)()


def test_db_upgrade_creates_the_schema_and_can_be_repeated(run, url):
    for _ in range(2):
        result = run("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert result.stdout == f"database {url} is at revision {head_revision()}\n"


def test_keys_create_prints_the_key_once_with_a_warning(run, url, migrated):
    result = run("keys", "create", "--name", "Dinas Bandung", "--scope", "score", "--scope", "read")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    key_id = KEY.match(key).group(1)
    assert "not stored" in result.stderr and key_id in result.stderr
    assert key not in result.stderr

    with _session(url) as session:
        info = store.find_api_key(session, key)
        assert (info.key_id, info.name, info.scopes) == (key_id, "Dinas Bandung", ("score", "read"))
        event = store.audit_events(session, limit=1)[0]
        assert (event["actor"], event["action"], event["subject"]) == (
            "cli",
            "api_key.created",
            key_id,
        )
        assert key.split("_", 2)[2] not in str(store.audit_events(session))


def test_keys_list_shows_keys_without_secrets(run, migrated):
    key = run("keys", "create", "--name", "ops", "--scope", "admin").stdout.strip()
    key_id = KEY.match(key).group(1)
    result = run("keys", "list")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    columns = re.compile(r"\s{2,}")
    assert columns.split(header) == [
        "KEY_ID",
        "NAME",
        "SCOPES",
        "CREATED (UTC)",
        "LAST USED (UTC)",
        "STATUS",
    ]
    cells = columns.split(row)
    assert cells[:3] == [key_id, "ops", "admin"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[3])
    assert cells[4:] == ["-", "active"]
    assert key.split("_", 2)[2] not in result.output


def test_keys_revoke_makes_the_key_useless(run, url, migrated):
    key = run("keys", "create", "--name", "old", "--scope", "read").stdout.strip()
    key_id = KEY.match(key).group(1)

    result = run("keys", "revoke", key_id)
    assert (result.exit_code, result.stdout) == (0, f"revoked {key_id}\n")
    with _session(url) as session:
        assert store.find_api_key(session, key) is None
    assert "revoked" in run("keys", "list").stdout.splitlines()[1]

    again = run("keys", "revoke", key_id)
    assert again.exit_code == 1
    assert again.stderr == f"error: no active API key '{key_id}'\n"


def test_keys_create_refuses_unknown_scopes(run, migrated):
    result = run("keys", "create", "--name", "x", "--scope", "write")
    assert result.exit_code == 2
    assert "write" in result.stderr


def test_keys_need_a_migrated_database(run, tmp_path):
    result = run("keys", "list")
    assert result.exit_code == 1
    assert "sme-export db upgrade" in result.stderr
    assert not (tmp_path / "cli.db").exists()


def test_database_url_option_wins_over_the_environment(run, tmp_path):
    other = sqlite_url(tmp_path / "other.db")
    assert run("db", "upgrade", "--database-url", other).exit_code == 0
    assert (tmp_path / "other.db").exists()
    assert not (tmp_path / "cli.db").exists()


def test_default_database_is_the_one_the_service_uses(tmp_path, monkeypatch):
    from api import create_app
    from api.cli.common import default_url as _default_url
    from api.db import database_url

    monkeypatch.chdir(tmp_path)  # the working directory does not matter
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"AUTO_MIGRATE": False})
    assert _default_url() == database_url(app)
    assert _default_url().endswith("/instance/sme_export.db")
