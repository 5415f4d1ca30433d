"""``sme-export users create|list|disable`` on a temporary SQLite."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner
from werkzeug.security import check_password_hash

from api.cli import main
from api.db import make_engine, make_sessionmaker, sqlite_url
from api.tables import AuditEvent, User

pytest_plugins = ["web_fixtures"]


@pytest.fixture
def url(tmp_path, migrated_sqlite) -> str:
    shutil.copyfile(migrated_sqlite, tmp_path / "cli.db")
    return sqlite_url(tmp_path / "cli.db")


@pytest.fixture
def run(url):
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None, input: str | None = None):
        env = {"DATABASE_URL": url, **(env or {})}
        return runner.invoke(main, list(args), env=env, input=input)

    return invoke


def _rows(url, model):
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.query(model))
    finally:
        engine.dispose()


def test_create_reads_the_password_from_a_hidden_prompt_and_stores_a_hash(run, url):
    password = "a long enough password"
    result = run("users", "create", "Siti", "--role", "lead", input=f"{password}\n{password}\n")
    assert result.exit_code == 0, result.output
    assert "created siti (lead)" in result.output
    (user,) = _rows(url, User)
    assert user.username == "siti" and user.role == "lead" and user.language == "id"
    assert user.password_hash.startswith("scrypt:") and password not in user.password_hash
    assert check_password_hash(user.password_hash, password)
    (event,) = _rows(url, AuditEvent)
    assert (event.action, event.subject) == ("user.created", "user:siti")


def test_create_refuses_bad_input_with_one_line(run):
    env = {"SME_EXPORT_USER_PASSWORD": "short"}
    result = run("users", "create", "ana", "--role", "officer", env=env)
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    result = run("users", "create", "ana", "--role", "chief", env=env)
    assert result.exit_code == 2
    env = {"SME_EXPORT_USER_PASSWORD": "a long enough password"}
    assert run("users", "create", "ana", "--role", "officer", env=env).exit_code == 0
    result = run("users", "create", "ana", "--role", "admin", env=env)
    assert result.exit_code == 1 and "exists already" in result.output


def test_list_and_disable(run):
    env = {"SME_EXPORT_USER_PASSWORD": "a long enough password"}
    run("users", "create", "ana", "--role", "admin", "--language", "en", env=env)
    run("users", "create", "budi", "--role", "officer", env=env)
    assert run("users", "disable", "budi").exit_code == 0
    assert run("users", "disable", "budi").exit_code == 1
    lines = run("users", "list").output.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "LANGUAGE", "CREATED", "(UTC)", "STATUS"]
    assert lines[1].split()[:3] == ["ana", "admin", "en"] and lines[1].endswith("active")
    assert lines[2].split()[:3] == ["budi", "officer", "id"] and "disabled" in lines[2]
