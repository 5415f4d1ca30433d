"""A browser on a staff page that does not exist (or a wrong method, or a failure) sees a
page in its language with a link home; the API keeps answering problem+json."""

from __future__ import annotations

import logging

import pytest
from web_helpers import create_user, log_in

pytest_plugins = ["api_fixtures"]

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HOME_LINK = '<a href="/">'


def in_language(client, lang: str):
    with client.session_transaction() as session:
        session["lang"] = lang
    return client


@pytest.mark.parametrize("path", ["/cohortz", "/smes/x/typo", "/batches/12/nothing"])
@pytest.mark.parametrize(
    ("lang", "title", "home"),
    [("id", "Tidak ditemukan", "Kembali ke beranda"), ("en", "Not found", "Back to the home page")],
)
def test_a_mistyped_page_address_is_a_404_page_in_the_users_language(
    client, path, lang, title, home
):
    response = in_language(client, lang).get(path, headers=HTML)
    assert (response.status_code, response.mimetype) == (404, "text/html")
    page = response.get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert f"<h1>{title}</h1>" in page
    assert f"{HOME_LINK}{home}</a>" in page


def test_api_paths_and_clients_not_asking_for_html_keep_problem_json(client):
    for path, headers in (
        ("/api/v1/nothing", HTML),
        ("/api/v1/smes/x/typo", HTML),
        ("/cohortz", {}),
        ("/cohortz", {"Accept": "application/json"}),
        ("/cohortz", {"Accept": "application/json, text/html;q=0.5"}),
    ):
        response = client.get(path, headers=headers)
        assert (response.status_code, response.mimetype) == (404, "application/problem+json")


def test_a_wrong_method_on_a_page_is_a_405_page_with_allow(client):
    response = in_language(client, "en").put("/login", headers=HTML)
    assert (response.status_code, response.mimetype) == (405, "text/html")
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    page = response.get_data(as_text=True)
    assert "<h1>This action is not possible here</h1>" in page
    assert HOME_LINK in page
    api = client.put("/api/v1/smes/BDG-1", headers=HTML)
    assert (api.status_code, api.mimetype) == (405, "application/problem+json")


def test_an_unexpected_error_on_a_page_is_a_500_page_without_the_message(app, monkeypatch, caplog):
    import api.store

    create_user(app, "lead", "lead", language="id")
    client = app.test_client()
    assert log_in(client, "lead").status_code == 302

    def explode(*args, **kwargs):
        raise RuntimeError("contact eko.suryana@example.com failed")

    monkeypatch.setattr(api.store, "cohort_names", explode)
    with caplog.at_level(logging.ERROR):
        response = client.get("/cohorts", headers=HTML)
    assert (response.status_code, response.mimetype) == (500, "text/html")
    page = response.get_data(as_text=True)
    assert "<h1>Terjadi kesalahan</h1>" in page
    assert "eko.suryana" not in page and "Traceback" not in page
    assert HOME_LINK in page
    logged = "\n".join(record.getMessage() for record in caplog.records)
    reference = logged.split("(", 1)[1].split(")", 1)[0]
    assert reference.startswith("urn:uuid:") and f"<code>{reference}</code>" in page
