"""``GET /api/v1/invitations`` pages like the API's other lists: keyset cursors (``cursor``,
``limit``) and numbered pages (``page``, ``per_page``), ``next_cursor`` and a ``Link``
header until the last page, newest first, with ``state`` and ``cohort`` bound into the
cursor."""

from __future__ import annotations

import base64
import json
import re

import pytest

from api.http.errors import PROBLEM_JSON
from api.http.paging import BAD_CURSOR, OTHER_QUERY

pytest_plugins = ["api_fixtures"]

PATH = "/api/v1/invitations"
LINK = re.compile(r'^<(?P<address>[^>]+)>; rel="next"$')


def invite(client, headers, cohort: str) -> int:
    made = client.post(PATH, json={"cohort": cohort}, headers=headers)
    assert made.status_code == 201, made.get_json()
    return made.get_json()["id"]


def next_address(response) -> str | None:
    header = response.headers.get("Link")
    if header is None:
        return None
    match = LINK.match(header)
    assert match, header
    return match["address"]


def pages(client, headers, address: str, *, between=lambda: None) -> list[dict]:
    """Every page from ``address`` on, by the Link headers; ``between`` runs after each
    page that has a next one. Each page's Link and ``next_cursor`` agree."""
    bodies = []
    while address is not None:
        response = client.get(address, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        address = next_address(response)
        assert (address is None) == (body["next_cursor"] is None)
        if address is not None:
            assert f"cursor={body['next_cursor']}" in address
            between()
        bodies.append(body)
    return bodies


def errors_of(response) -> list[dict]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()["errors"]


def crafted_cursor(payload) -> str:
    raw = json.dumps(payload).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@pytest.fixture
def score(auth) -> dict[str, str]:
    return auth("score")


@pytest.fixture
def invited(client, score) -> list[int]:
    """Seven invitations, cohorts ``a`` and ``b`` in turn; their ids as made."""
    return [invite(client, score, "ab"[n % 2]) for n in range(7)]


def test_walking_every_page_by_cursor_lists_each_invitation_once_newest_first(
    client, score, invited
):
    bodies = pages(client, score, f"{PATH}?limit=3")
    assert [len(b["items"]) for b in bodies] == [3, 3, 1]
    assert [i["id"] for b in bodies for i in b["items"]] == invited[::-1]
    assert all(b["limit"] == 3 and "total" not in b for b in bodies)
    assert bodies[-1]["next_cursor"] is None


def test_the_cursor_keeps_the_state_and_cohort_filters(client, score, invited):
    revoked = invited[2]  # cohort a
    assert client.post(f"{PATH}/{revoked}/revoke", headers=score).status_code == 200
    first = client.get(f"{PATH}?state=open&cohort=a&limit=1", headers=score)
    address = next_address(first)
    assert {"state=open", "cohort=a", "limit=1"} <= set(address.split("?")[1].split("&"))
    bodies = [first.get_json(), *pages(client, score, address)]
    open_a = [i for n, i in enumerate(invited) if n % 2 == 0 and i != revoked]
    assert [i["id"] for b in bodies for i in b["items"]] == open_a[::-1]
    assert {(i["cohort"], i["state"]) for b in bodies for i in b["items"]} == {("a", "open")}


def test_an_invitation_made_during_a_pass_is_not_repeated_or_shifting_the_rest(
    client, score, invited
):
    made = []
    bodies = pages(
        client, score, f"{PATH}?limit=2", between=lambda: made.append(invite(client, score, "c"))
    )
    assert [i["id"] for b in bodies for i in b["items"]] == invited[::-1]
    assert len(made) == 3  # newer than the cursor: the next pass lists them first
    assert [i["id"] for i in client.get(f"{PATH}?limit=3", headers=score).get_json()["items"]] == (
        made[::-1]
    )


def test_numbered_pages_count_the_total_and_link_to_the_rest_by_cursor(client, score, invited):
    first = client.get(f"{PATH}?page=1&per_page=3", headers=score)
    body = first.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (7, 1, 3)
    rest = pages(client, score, next_address(first))
    assert [i["id"] for b in [body, *rest] for i in b["items"]] == invited[::-1]
    second = client.get(f"{PATH}?page=2&per_page=3", headers=score).get_json()
    assert [i["id"] for i in second["items"]] == invited[::-1][3:6]
    last = client.get(f"{PATH}?page=3&per_page=3", headers=score)
    assert [i["id"] for i in last.get_json()["items"]] == invited[:1]
    assert last.get_json()["next_cursor"] is None and "Link" not in last.headers


def test_a_single_page_has_no_link(client, score, invited):
    whole = client.get(PATH, headers=score)
    assert whole.get_json()["total"] == 7 and whole.get_json()["next_cursor"] is None
    assert "Link" not in whole.headers
    exact = client.get(f"{PATH}?limit=7", headers=score)
    assert exact.get_json()["next_cursor"] is None and "Link" not in exact.headers


def test_a_cursor_is_valid_only_with_the_filters_it_came_from(client, auth, score, invited):
    cursor = client.get(f"{PATH}?cohort=a&limit=1", headers=score).get_json()["next_cursor"]
    for query in ("cohort=b", "cohort=a&state=open", ""):
        other = client.get(f"{PATH}?{query}&cursor={cursor}", headers=score)
        assert errors_of(other) == [{"field": "cursor", "message": OTHER_QUERY}], query
    smes = client.get(f"/api/v1/smes?cursor={cursor}", headers=auth("read"))
    assert errors_of(smes) == [{"field": "cursor", "message": BAD_CURSOR}]
    same = client.get(f"{PATH}?cohort=a&cursor={cursor}&limit=1", headers=score)
    assert [i["id"] for i in same.get_json()["items"]] == [invited[4]]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        crafted_cursor({"l": "smes", "q": "", "k": ["BDG-2020-001"]}),  # another list's
        crafted_cursor({"l": "invitations", "q": "", "k": ["7"]}),  # an id as text
        crafted_cursor({"l": "invitations", "q": "", "k": [-1]}),
        crafted_cursor({"l": "invitations", "q": "", "k": [2**63]}),
        crafted_cursor({"l": "invitations", "q": "", "k": [1, 2]}),
        crafted_cursor(["invitations"]),
    ],
)
def test_a_forged_cursor_is_422(client, score, cursor):
    response = client.get(PATH, query_string={"cursor": cursor}, headers=score)
    assert errors_of(response) == [{"field": "cursor", "message": BAD_CURSOR}]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("page=2&limit=3", ["page"]),
        ("per_page=3&limit=3", ["per_page"]),
        ("page=1&per_page=3&cursor=x", ["page", "per_page"]),
    ],
)
def test_paging_by_number_and_by_cursor_at_once_is_422(client, score, query, fields):
    assert sorted(e["field"] for e in errors_of(client.get(f"{PATH}?{query}", headers=score))) == (
        fields
    )


def test_the_document_describes_the_paging(client):
    operation = client.get("/api/openapi.json").get_json()["paths"][PATH]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"page", "per_page", "cursor", "limit", "state", "cohort"} <= set(parameters)
    assert parameters["limit"]["schema"]["maximum"] == 500
    assert "Link" in operation["responses"]["200"]["headers"]
