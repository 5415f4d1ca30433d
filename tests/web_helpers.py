"""Helpers of the staff web page tests: accounts, the CSRF token of a page, logging in,
and a profile as the profile form posts it."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from api import store
from api.db import get_session

PASSWORD = "correct horse battery"
ROLES = ("officer", "lead", "admin")
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def create_user(app: Flask, username: str, role: str, *, language: str = "id") -> None:
    with app.app_context():
        session = get_session()
        store.create_user(
            session,
            username=username,
            password=PASSWORD,
            role=role,
            language=language,
            hash_method=app.config["USER_HASH_METHOD"],
        )
        session.commit()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the form on the page at ``path``."""
    page = client.get(path)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({page.status_code})"
    return match.group(1)


def log_in(client: FlaskClient, username: str, password: str = PASSWORD):
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
    )


def form_of(profile: dict) -> dict:
    """A JSON profile as the profile form would post it (yes/no ticked as "true")."""
    data: dict = {}
    for name, value in profile.items():
        if value is None or value is False:
            continue
        if value is True:
            data[name] = "true"
        elif isinstance(value, list):
            data[name] = list(value)
        else:
            data[name] = str(value)
    return data


def page_text(response) -> str:
    return response.get_data(as_text=True)


def post_profile(client: FlaskClient, profile: dict, cohort: str | None = None):
    """The profile form posted as an officer would: scored and stored."""
    data = form_of(profile)
    data["csrf_token"] = csrf_token(client, "/profiles/new")
    if cohort:
        data["cohort"] = cohort
    return client.post("/profiles/new", data=data)
