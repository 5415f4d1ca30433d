"""Hostile requests are 4xx problems (or 4xx pages), never 500s, and alike on SQLite and
PostgreSQL: deeply nested JSON, integers of thousands of digits, lone surrogates, ids and
pages beyond 64 bits, and NUL characters in any text input."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from test_api_server import server  # noqa: F401 (the real-server fixture)
from web_helpers import create_user, csrf_token, log_in

pytest_plugins = ["api_fixtures", "db_fixtures"]

PROBLEM_JSON = "application/problem+json"
NESTED = "[" * 100_000 + "]" * 100_000
HUGE = "9" * 5000


@pytest.fixture
def hostile_app(make_app, db_url):
    """An app on SQLite or on PostgreSQL (the test's ``db_url``)."""
    return make_app(DATABASE_URL=db_url)


@pytest.fixture
def headers(hostile_app, make_key) -> dict:
    return {"X-API-Key": make_key(hostile_app, "score", "read", "admin", "personal")}


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["status"] == status
    return body


def post_json(client, path: str, text: str, headers: dict):
    return client.post(path, data=text, headers={**headers, "Content-Type": "application/json"})


def with_field(profile: dict, field: str, raw_value: str) -> str:
    """``profile`` as JSON text with ``field`` set to ``raw_value`` (JSON text as is)."""
    body = {key: value for key, value in profile.items() if key != field}
    return json.dumps(body)[:-1] + f', "{field}": {raw_value}}}'


@pytest.mark.parametrize("path", ["/api/v1/scores", "/api/v1/batches", "/api/v1/shortlists"])
@pytest.mark.parametrize("body", [NESTED, '{"a": ' * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_json_is_400(hostile_app, headers, path, body):
    response = post_json(hostile_app.test_client(), path, body, headers)
    problem = problem_of(response, 400)
    assert problem["detail"] == "The JSON body is nested too deeply."


def test_an_integer_of_thousands_of_digits_is_422_naming_the_field(hostile_app, headers, profile):
    client = hostile_app.test_client()
    response = post_json(client, "/api/v1/scores", with_field(profile, "employees", HUGE), headers)
    problem = problem_of(response, 422)
    assert problem["errors"] == [
        {"field": "employees", "message": "A number of more than 4300 digits."}
    ]
    batch = "[" + with_field(profile, "employees", HUGE) + "]"
    problem = problem_of(post_json(client, "/api/v1/batches", batch, headers), 422)
    assert problem["errors"] == [
        {"field": "employees", "message": "Item 1: a number of more than 4300 digits."}
    ]


@pytest.mark.parametrize("field", ["name", "owner_name", "district"])
def test_a_lone_surrogate_is_422_naming_the_field(hostile_app, headers, profile, field):
    client = hostile_app.test_client()
    text = with_field(profile, field, '"Ud \\ud800 Jaya"')
    problem = problem_of(post_json(client, "/api/v1/scores", text, headers), 422)
    assert problem["errors"] == [
        {"field": field, "message": "Text with a lone surrogate (not a Unicode character)."}
    ]
    batch = f"[{json.dumps(profile)}, {text}]"
    problem = problem_of(post_json(client, "/api/v1/batches", batch, headers), 422)
    assert problem["errors"] == [
        {"field": field, "message": "Item 2: text with a lone surrogate (not a Unicode character)."}
    ]
    assert client.get("/api/v1/smes", headers=headers).get_json()["total"] == 0


@pytest.mark.parametrize(
    ("encode", "message"),
    [
        # a surrogate written as UTF-8 bytes: json.loads decodes it (surrogatepass)
        (
            lambda text: text.replace("SURROGATE", "\ud800").encode("utf-8", "surrogatepass"),
            "Text with a lone surrogate (not a Unicode character).",
        ),
        (
            lambda text: text.replace("SURROGATE", "\\uDFFF").encode(),
            "Text with a lone surrogate (not a Unicode character).",
        ),
        # UTF-16 and UTF-32 bodies: JSON in any of its encodings is read
        (
            lambda text: text.replace("SURROGATE", "\\u0000").encode("utf-16"),
            "Text with a NUL character.",
        ),
        (
            lambda text: text.replace("SURROGATE", "\\ud800").encode("utf-32"),
            "Text with a lone surrogate (not a Unicode character).",
        ),
    ],
)
def test_every_encoding_of_a_bad_character_is_found(hostile_app, headers, profile, encode, message):
    body = encode(with_field(profile, "name", '"Ud SURROGATE Jaya"'))
    response = post_json(hostile_app.test_client(), "/api/v1/scores", body, headers)
    assert problem_of(response, 422)["errors"] == [{"field": "name", "message": message}]


@pytest.mark.parametrize("field", ["name", "owner_name", "contact_email"])
def test_a_nul_character_in_a_json_field_is_422_naming_it(hostile_app, headers, profile, field):
    client = hostile_app.test_client()
    response = client.post("/api/v1/scores", json={**profile, field: "a\x00b"}, headers=headers)
    problem = problem_of(response, 422)
    assert problem["errors"] == [{"field": field, "message": "Text with a NUL character."}]
    response = client.post("/api/v1/batches", json=[{**profile, field: "a\x00b"}], headers=headers)
    assert problem_of(response, 422)["errors"] == [
        {"field": field, "message": "Item 1: text with a NUL character."}
    ]
    assert client.get("/api/v1/smes", headers=headers).get_json()["total"] == 0


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("get", "/api/v1/smes?cohort=a%00b", "cohort"),
        ("get", "/api/v1/smes?sector=apparel%00", "sector"),
        ("post", "/api/v1/batches?cohort=k%00", "cohort"),
        ("get", "/api/v1/processing-log?sme_id=a%00b", "sme_id"),
    ],
)
def test_a_nul_character_in_a_query_parameter_is_422_naming_it(
    hostile_app, headers, profile, method, path, field
):
    client = hostile_app.test_client()
    response = getattr(client, method)(path, headers=headers, json=[profile])
    problem = problem_of(response, 422)
    assert problem["errors"] == [{"field": field, "message": "Text with a NUL character."}]


def test_a_nul_character_in_a_path_names_nothing(hostile_app, headers):
    client = hostile_app.test_client()
    for path in ("/api/v1/smes/a%00b", "/api/v1/smes/a%00b/scores", "/api/v1/smes/a%00b/export"):
        problem_of(client.get(path, headers=headers), 404)
    problem_of(client.delete("/api/v1/smes/a%00b", headers=headers), 404)


def test_a_nul_character_in_a_header_is_400(hostile_app):
    response = hostile_app.test_client().get("/api/v1/smes", headers={"X-API-Key": "sk_a\x00b"})
    assert problem_of(response, 400)["detail"] == "The X-Api-Key header contains a NUL character."


@pytest.mark.parametrize("batch_id", [2**31, 2**63, 2**64 + 1, int(HUGE[:40])])
def test_ids_beyond_the_database_integers_are_404(hostile_app, headers, batch_id):
    client = hostile_app.test_client()
    for path in (f"/api/v1/batches/{batch_id}", f"/api/v1/batches/{batch_id}/results"):
        problem_of(client.get(path, headers=headers), 404)
    create_user(hostile_app, "lead", "lead")
    assert log_in(client, "lead").status_code == 302
    for path in (
        f"/batches/{batch_id}",
        f"/batches/{batch_id}/progress",
        f"/batches/{batch_id}/results.csv",
    ):
        assert client.get(path).status_code == 404, path


@pytest.mark.parametrize("page", [2**63, 2**64, int(HUGE[:30])])
def test_pages_beyond_64_bits_are_422_or_clamped(hostile_app, headers, page):
    client = hostile_app.test_client()
    for path in ("/api/v1/smes", "/api/v1/processing-log"):
        problem = problem_of(client.get(f"{path}?page={page}", headers=headers), 422)
        assert [error["field"] for error in problem["errors"]] == ["page"]
    create_user(hostile_app, "boss", "admin")
    assert log_in(client, "boss").status_code == 302
    assert client.get(f"/admin/processing-log?page={page}").status_code == 200


def test_a_nul_character_on_the_login_form_is_refused(hostile_app):
    client = hostile_app.test_client()
    token = csrf_token(client)
    for form in ({"username": "a\x00b", "password": "x"}, {"username": "a", "password": "\x00"}):
        response = client.post(
            "/login", data={**form, "csrf_token": token}, headers={"Accept": "text/html"}
        )
        assert response.status_code == 422, response.get_data(as_text=True)[:300]
        assert response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        field = "username" if "\x00" in form["username"] else "password"
        assert f"{field}: " in page


def test_a_nul_character_in_a_web_form_field_is_refused_everywhere(hostile_app):
    client = hostile_app.test_client()
    create_user(hostile_app, "officer", "officer")
    assert log_in(client, "officer").status_code == 302
    token = csrf_token(client, "/profiles/new")
    response = client.post(
        "/profiles/new",
        data={"sme_id": "A-1", "name": "x\x00", "csrf_token": token},
        headers={"Accept": "text/html"},
    )
    assert (response.status_code, response.mimetype) == (422, "text/html")
    assert "<li>name: Text with a NUL character.</li>" in response.get_data(as_text=True)
    problem = problem_of(client.get("/cohorts?cohort=a%00b"), 422)
    assert problem["errors"] == [{"field": "cohort", "message": "Text with a NUL character."}]


# --- a real served app ------------------------------------------------------------------------


def test_a_real_server_answers_4xx_to_nested_json_and_nul_on_login(server):  # noqa: F811
    base, key = server
    request = urllib.request.Request(
        f"{base}/api/v1/scores",
        data=NESTED.encode(),
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=300)
    assert raised.value.code == 400
    assert raised.value.headers["Content-Type"] == PROBLEM_JSON
    assert json.loads(raised.value.read())["detail"] == "The JSON body is nested too deeply."

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{base}/login", timeout=300) as page:
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": "a\x00b", "password": "x", "csrf_token": token})
    login = urllib.request.Request(
        f"{base}/login", data=form.encode(), headers={"Accept": "text/html"}
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        opener.open(login, timeout=300)
    assert raised.value.code == 422
    assert "username: " in raised.value.read().decode()
