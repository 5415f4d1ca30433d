"""Incremental sync for other systems: keyset cursors with ``Link`` headers on every list,
``updated_since``, ``ETag`` and 304 on single resources, and the bulk export of a cohort's
latest scores as NDJSON, CSV or Parquet."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import re
import time
from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.http.errors import PROBLEM_JSON
from api.http.paging import BAD_CURSOR, OTHER_QUERY
from api.services import downloads

pytest_plugins = ["api_fixtures", "db_fixtures"]

LINK = re.compile(r'^<(?P<address>[^>]+)>; rel="next"$')
DAY = "2025-03-14"
SCORE_COLUMNS = [
    "sme_id",
    "name",
    "sector",
    "score",
    "tier",
    "rules_score",
    "ml_probability",
    "knockouts",
    "model_version",
    "ruleset_version",
    "scored_at",
]
PERSONAL_COLUMNS = ["owner_gender", "owner_name", "contact_phone", "contact_email", "district"]


# --- helpers ----------------------------------------------------------------------------------


def upload(client, headers, profile, sme_ids, *, cohort: str = "sync", **changes) -> int:
    """The profiles of ``sme_ids`` scored as one batch in ``cohort``; the batch's id."""
    body = [{**profile, "sme_id": sme_id, **changes} for sme_id in sme_ids]
    response = client.post(f"/api/v1/batches/profiles?cohort={cohort}", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def next_address(response) -> str | None:
    """The address of the ``Link: <...>; rel="next"`` header; None without one."""
    header = response.headers.get("Link")
    if header is None:
        return None
    match = LINK.match(header)
    assert match, header
    return match["address"]


def follow(client, headers, address: str, *, between: Callable[[], None] = lambda: None):
    """Every page of a list from ``address`` on, by its Link headers; ``between`` runs after
    each page that has a next one."""
    while address is not None:
        response = client.get(address, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        address = next_address(response)
        assert (address is None) == (body["next_cursor"] is None)
        if address is not None:
            assert f"cursor={body['next_cursor']}" in address
        yield body
        if address is not None:
            between()


def errors_of(response, status: int = 422) -> list[dict]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == PROBLEM_JSON
    return response.get_json()["errors"]


def decision(sme_id: str, decided_on: str = DAY) -> dict:
    return {
        "sme_id": sme_id,
        "decision": "support",
        "support_kind": "trade_fair",
        "decided_on": decided_on,
    }


def followup(sme_id: str) -> dict:
    return {
        "sme_id": sme_id,
        "followup_date": "2026-03-14",
        "exported": False,
        "learned_via": "phone_call",
    }


def next_second() -> dt.datetime:
    """The start of the next second, once it has come."""
    now = dt.datetime.now(dt.UTC)
    start = now.replace(microsecond=0) + dt.timedelta(seconds=1)
    time.sleep((start - now).total_seconds())
    return start


def crafted_cursor(payload: dict) -> str:
    raw = json.dumps(payload).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@pytest.fixture
def admin(app, make_key) -> dict[str, str]:
    return {"X-API-Key": make_key(app, "admin")}


# --- paging by cursor while rows are added ----------------------------------------------------


def test_paging_smes_by_cursor_while_smes_are_added_misses_and_repeats_none(
    db_url, make_app, make_key, profile
):
    app = make_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    existing = [f"M-{n:02d}" for n in range(0, 26, 2)]  # 13 SMEs, more than three pages of 4
    upload(client, headers, profile, existing)
    added = iter(range(100))

    def add_one_before_and_one_after_the_cursor() -> None:
        n = next(added)
        upload(client, headers, profile, [f"A-{n:02d}", f"Z-{n:02d}"])

    bodies = list(
        follow(
            client,
            headers,
            "/api/v1/smes?limit=4&cohort=sync",
            between=add_one_before_and_one_after_the_cursor,
        )
    )
    seen = [item["sme_id"] for body in bodies for item in body["items"]]
    assert len(seen) == len(set(seen))  # nothing repeated
    assert [s for s in seen if s.startswith("M-")] == existing  # nothing missed, in order
    assert seen == sorted(seen)
    added_after = [f"Z-{n:02d}" for n in range(len(bodies) - 1)]
    assert [s for s in seen if s.startswith("Z-")] == added_after  # those after the cursor
    assert not [s for s in seen if s.startswith("A-")]  # those before it: the next sync's
    assert all(body["limit"] == 4 and "total" not in body for body in bodies)
    assert [len(body["items"]) for body in bodies][:-1] == [4] * (len(bodies) - 1)


def test_paging_decisions_and_the_processing_log_while_rows_are_added(
    db_url, make_app, make_key, profile
):
    app = make_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    upload(client, headers, profile, [f"D-{n}" for n in range(7)])
    days = [f"2025-0{month}-01" for month in range(2, 9)]
    for n, day in enumerate(days):
        assert client.post("/api/v1/decisions", json=decision(f"D-{n}", day), headers=headers)
    existing = [
        d["id"] for d in client.get("/api/v1/decisions", headers=headers).get_json()["items"]
    ]
    assert len(existing) == 7
    added = iter(range(100))

    def add_decisions_before_and_after_the_cursor() -> None:
        n = next(added)
        for day in (f"2024-01-{n + 10}", f"2025-12-{n + 10}"):  # the oldest and newest dates
            response = client.post("/api/v1/decisions", json=decision("D-0", day), headers=headers)
            assert response.status_code == 201

    bodies = list(
        follow(
            client,
            headers,
            "/api/v1/decisions?limit=3",
            between=add_decisions_before_and_after_the_cursor,
        )
    )
    seen = [item for body in bodies for item in body["items"]]
    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in existing] == existing
    keys = [(item["decided_on"], item["id"]) for item in seen]
    assert keys == sorted(keys, reverse=True)  # newest decision date first
    assert [item["decided_on"] for item in seen if item["id"] not in existing] == [
        f"2024-01-{n + 10}" for n in reversed(range(len(bodies) - 1))
    ]  # those added after the cursor (older dates), not those before it

    events = client.get("/api/v1/processing-log?per_page=500", headers=headers).get_json()
    before = [event["id"] for event in events["items"]]

    def view_an_sme() -> None:
        assert client.get("/api/v1/smes/D-1", headers=headers).status_code == 200

    bodies = list(follow(client, headers, "/api/v1/processing-log?limit=5", between=view_an_sme))
    logged = [event["id"] for body in bodies for event in body["items"]]
    assert logged == before  # newest first: the views made meanwhile are the next sync's
    assert len(bodies) == -(-len(before) // 5)


def test_a_numbered_page_links_to_the_rest_by_cursor(client, admin, profile):
    upload(client, admin, profile, [f"P-{n}" for n in range(5)])
    first = client.get("/api/v1/smes?page=1&per_page=2", headers=admin)
    body = first.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (5, 1, 2)
    rest = list(follow(client, admin, next_address(first)))
    assert [i["sme_id"] for b in [body, *rest] for i in b["items"]] == [f"P-{n}" for n in range(5)]
    last = client.get("/api/v1/smes?page=3&per_page=2", headers=admin)
    assert last.get_json()["next_cursor"] is None and "Link" not in last.headers


def test_the_link_keeps_the_filters_and_the_page_size(client, admin, profile):
    upload(client, admin, profile, ["F-1", "F-2", "F-3"], sector="food_beverage")
    upload(client, admin, profile, ["G-1"], cohort="other")
    response = client.get("/api/v1/smes?sector=food_beverage&cohort=sync&limit=2", headers=admin)
    address = next_address(response)
    assert address.startswith("/api/v1/smes?")
    assert {"sector=food_beverage", "cohort=sync", "limit=2"} <= set(
        address.split("?")[1].split("&")
    )
    assert [i["sme_id"] for i in client.get(address, headers=admin).get_json()["items"]] == ["F-3"]


def test_batch_results_page_by_cursor_in_row_order(client, admin, profile):
    batch_id = upload(client, admin, profile, [f"R-{n}" for n in (3, 1, 2, 5, 4)])
    whole = client.get(f"/api/v1/batches/{batch_id}/results", headers=admin).get_json()
    bodies = list(follow(client, admin, f"/api/v1/batches/{batch_id}/results?limit=2"))
    assert [len(b["results"]) for b in bodies] == [2, 2, 1]
    assert [r for b in bodies for r in b["results"]] == whole["results"]
    assert [r["sme_id"] for r in whole["results"]] == ["R-3", "R-1", "R-2", "R-5", "R-4"]
    for field in ("cursor", "limit"):
        value = bodies[0]["next_cursor"] if field == "cursor" else 2
        response = client.get(
            f"/api/v1/batches/{batch_id}/results?format=csv&{field}={value}", headers=admin
        )
        assert [e["field"] for e in errors_of(response)] == [field]


def test_score_history_pages_oldest_first_and_filters_by_scored_at(client, admin, profile):
    for website in (False, True, False):
        upload(client, admin, profile, ["H-1"], has_website=website)
    since = next_second()  # a record's scored_at is to the second
    upload(client, admin, profile, ["H-1"], has_website=True)
    whole = client.get("/api/v1/smes/H-1/scores", headers=admin).get_json()
    assert (len(whole["scores"]), whole["next_cursor"], whole["limit"]) == (4, None, 500)
    bodies = list(follow(client, admin, "/api/v1/smes/H-1/scores?limit=3"))
    assert [s for b in bodies for s in b["scores"]] == whole["scores"]
    assert [len(b["scores"]) for b in bodies] == [3, 1]
    recent = client.get(
        "/api/v1/smes/H-1/scores", query_string={"updated_since": since.isoformat()}, headers=admin
    ).get_json()
    assert recent["scores"] == whole["scores"][3:]


# --- refusals -----------------------------------------------------------------------------------

LISTS = ("/api/v1/smes", "/api/v1/decisions", "/api/v1/processing-log", "/api/v1/invitations")


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("field", ["limit", "per_page"])
def test_a_page_larger_than_the_maximum_is_422_naming_the_field(make_app, make_key, path, field):
    app = make_app(PAGE_SIZE_MAX=5)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    assert client.get(f"{path}?{field}=5", headers=headers).status_code == 200
    errors = errors_of(client.get(f"{path}?{field}=6", headers=headers))
    assert errors == [{"field": field, "message": "Must be at most 5."}]


def test_the_maximum_page_size_is_documented(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in (*LISTS, "/api/v1/smes/{sme_id}/scores", "/api/v1/batches/{batch_id}/results"):
        parameters = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert parameters["limit"]["schema"]["maximum"] == 500, path
        assert "cursor" in parameters, path


def test_history_and_results_refuse_a_page_beyond_the_maximum(client, admin, profile):
    batch_id = upload(client, admin, profile, ["L-1"])
    for path in ("/api/v1/smes/L-1/scores", f"/api/v1/batches/{batch_id}/results"):
        assert [e["field"] for e in errors_of(client.get(f"{path}?limit=501", headers=admin))] == [
            "limit"
        ]


def test_paging_by_number_and_by_cursor_at_once_is_422(client, admin):
    errors = errors_of(client.get("/api/v1/smes?page=2&per_page=3&limit=3", headers=admin))
    assert sorted(e["field"] for e in errors) == ["page", "per_page"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "bm90IGpzb24",  # "not json"
        crafted_cursor({"l": "decisions", "q": "", "k": ["2025-01-01", 1]}),  # another list's
        crafted_cursor({"l": "smes", "q": "", "k": ["A\u0000B"]}),  # no sme_id
        crafted_cursor({"l": "smes", "q": "", "k": [1]}),
        crafted_cursor({"l": "smes", "q": "", "k": []}),
        crafted_cursor(["smes"]),
    ],
)
def test_a_cursor_that_is_not_one_of_the_list_is_422(client, admin, cursor):
    response = client.get("/api/v1/smes", query_string={"cursor": cursor}, headers=admin)
    assert errors_of(response) == [{"field": "cursor", "message": BAD_CURSOR}]


def test_a_cursor_is_valid_only_with_the_filters_it_came_from(client, admin, profile):
    upload(client, admin, profile, ["C-1", "C-2"])
    cursor = client.get("/api/v1/smes?cohort=sync&limit=1", headers=admin).get_json()["next_cursor"]
    other = client.get(f"/api/v1/smes?cohort=other&cursor={cursor}", headers=admin)
    assert errors_of(other) == [{"field": "cursor", "message": OTHER_QUERY}]
    decisions = client.get(f"/api/v1/decisions?cursor={cursor}", headers=admin)
    assert errors_of(decisions) == [{"field": "cursor", "message": BAD_CURSOR}]
    same = client.get(f"/api/v1/smes?cohort=sync&cursor={cursor}&limit=5", headers=admin)
    assert [i["sme_id"] for i in same.get_json()["items"]] == ["C-2"]


# --- updated_since ---------------------------------------------------------------------------


def test_smes_changed_since_a_time(client, admin, profile):
    upload(client, admin, profile, ["U-1", "U-2", "U-3"])
    since = dt.datetime.now(dt.UTC)
    upload(client, admin, profile, ["U-4"])
    upload(client, admin, profile, ["U-2"], has_website=False)  # rescored: changed
    for text in (
        since.isoformat(),
        since.isoformat().replace("+00:00", "Z"),
        since.astimezone(dt.timezone(dt.timedelta(hours=7))).isoformat(),
        since.replace(tzinfo=None).isoformat(),  # no zone: UTC
    ):
        response = client.get("/api/v1/smes", query_string={"updated_since": text}, headers=admin)
        assert [i["sme_id"] for i in response.get_json()["items"]] == ["U-2", "U-4"], text
    later = (since + dt.timedelta(days=1)).isoformat()
    assert (
        client.get("/api/v1/smes", query_string={"updated_since": later}, headers=admin).get_json()[
            "items"
        ]
        == []
    )


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+07:00"])
def test_updated_since_must_be_a_time(client, admin, text):
    for path in ("/api/v1/smes", "/api/v1/decisions"):
        response = client.get(path, query_string={"updated_since": text}, headers=admin)
        assert [e["field"] for e in errors_of(response)] == ["updated_since"]


def test_a_time_before_year_one_in_utc_is_422_not_a_crash(client, admin):
    query = {"since": "0001-01-01T00:00:00+07:00"}
    response = client.get("/api/v1/processing-log", query_string=query, headers=admin)
    assert [e["field"] for e in errors_of(response)] == ["since"]


def test_decisions_changed_since_a_time_include_those_whose_label_may_have_changed(
    client, admin, profile
):
    upload(client, admin, profile, ["V-1", "V-2", "V-3"])
    ids = {}
    for sme_id in ("V-1", "V-2", "V-3"):
        response = client.post("/api/v1/decisions", json=decision(sme_id), headers=admin)
        ids[sme_id] = response.get_json()["id"]
    since = dt.datetime.now(dt.UTC)
    patched = client.patch(
        f"/api/v1/decisions/{ids['V-1']}", json={"support_kind": "export_coaching"}, headers=admin
    )
    assert patched.status_code == 200
    assert client.post("/api/v1/outcomes", json=followup("V-2"), headers=admin).status_code == 201
    response = client.get(
        "/api/v1/decisions", query_string={"updated_since": since.isoformat()}, headers=admin
    )
    assert sorted(d["sme_id"] for d in response.get_json()["items"]) == ["V-1", "V-2"]


# --- ETag and 304 -----------------------------------------------------------------------------


@pytest.fixture
def resources(client, admin, profile) -> dict[str, str]:
    """One of each single resource: its address."""
    batch_id = upload(client, admin, profile, ["E-1"])
    decision_id = client.post("/api/v1/decisions", json=decision("E-1"), headers=admin).get_json()[
        "id"
    ]
    followup_id = client.post("/api/v1/outcomes", json=followup("E-1"), headers=admin).get_json()[
        "id"
    ]
    return {
        "sme": "/api/v1/smes/E-1",
        "decision": f"/api/v1/decisions/{decision_id}",
        "followup": f"/api/v1/outcomes/{followup_id}",
        "batch": f"/api/v1/batches/{batch_id}",
        "model": "/api/v1/models/active",
        "ruleset": "/api/v1/rulesets/active",
    }


@pytest.mark.parametrize("resource", ["sme", "decision", "followup", "batch", "model", "ruleset"])
def test_a_single_resource_has_a_strong_etag_and_answers_304_while_it_holds(
    client, admin, resources, resource
):
    address = resources[resource]
    first = client.get(address, headers=admin)
    assert first.status_code == 200
    assert first.headers["ETag"] == f'"{hashlib.sha256(first.data).hexdigest()}"'
    assert "X-API-Key" in first.headers["Vary"]

    again = client.get(address, headers={**admin, "If-None-Match": first.headers["ETag"]})
    assert (again.status_code, again.data) == (304, b"")
    assert again.headers["ETag"] == first.headers["ETag"]

    listed = client.get(
        address, headers={**admin, "If-None-Match": f'"x", {first.headers["ETag"]}'}
    )
    assert listed.status_code == 304
    other = client.get(address, headers={**admin, "If-None-Match": '"something-else"'})
    assert (other.status_code, other.data) == (200, first.data)


def test_a_changed_resource_gets_a_new_etag(client, admin, profile, resources):
    sme = client.get(resources["sme"], headers=admin)
    decision_before = client.get(resources["decision"], headers=admin)
    upload(client, admin, profile, ["E-1"], name="UD Nama Baru")
    client.patch(resources["decision"], json={"support_kind": "export_coaching"}, headers=admin)
    for address, before in ((resources["sme"], sme), (resources["decision"], decision_before)):
        now = client.get(address, headers={**admin, "If-None-Match": before.headers["ETag"]})
        assert now.status_code == 200
        assert now.headers["ETag"] != before.headers["ETag"]


def test_the_etag_differs_by_what_the_key_may_see(client, admin, auth, resources):
    personal = client.get(resources["sme"], headers=admin)
    plain = client.get(resources["sme"], headers=auth("read"))
    assert personal.headers["ETag"] != plain.headers["ETag"]
    held = {**auth("read"), "If-None-Match": personal.headers["ETag"]}
    assert client.get(resources["sme"], headers=held).status_code == 200


def test_errors_and_streamed_bodies_carry_no_etag(client, admin, resources):
    assert "ETag" not in client.get("/api/v1/smes/NOPE", headers=admin).headers
    results = client.get(f"{resources['batch']}/results", headers=admin)
    assert results.is_streamed and "ETag" not in results.headers


def test_the_document_names_the_etag_the_304_and_the_link(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in (
        "/api/v1/smes/{sme_id}",
        "/api/v1/decisions/{decision_id}",
        "/api/v1/outcomes/{followup_id}",
        "/api/v1/batches/{batch_id}",
        "/api/v1/models/active",
        "/api/v1/rulesets/active",
    ):
        operation = spec["paths"][path]["get"]
        assert "ETag" in operation["responses"]["200"]["headers"], path
        assert operation["responses"]["304"] == {"$ref": "#/components/responses/NOT_MODIFIED"}
        assert "If-None-Match" in [p["name"] for p in operation["parameters"]], path
    for path in LISTS:
        assert "Link" in spec["paths"][path]["get"]["responses"]["200"]["headers"], path
    export = spec["paths"]["/api/v1/cohorts/{cohort}/latest-scores"]["get"]
    assert set(export["responses"]["200"]["content"]) == {
        "application/x-ndjson",
        "text/csv",
        "application/vnd.apache.parquet",
    }
    assert "304" not in export["responses"]


# --- bulk export of a cohort's latest scores ----------------------------------------------


@pytest.fixture
def cohort(client, admin, profile) -> list[str]:
    """Five SMEs of cohort ``sync``, one of them rescored, one named like a formula; and one
    SME of another cohort."""
    sme_ids = ["X-5", "X-1", "X-3", "X-2", "X-4"]
    upload(client, admin, profile, sme_ids)
    upload(client, admin, profile, ["X-3"], has_website=False)
    upload(client, admin, profile, ["X-2"], name='=HYPERLINK("http://x","klik")')
    upload(client, admin, profile, ["Y-1"], cohort="other")
    return sorted(sme_ids)


def export(client, headers, format: str, cohort: str = "sync"):
    response = client.get(
        f"/api/v1/cohorts/{cohort}/latest-scores?format={format}", headers=headers
    )
    assert response.status_code == 200, response.data[:300]
    assert response.is_streamed
    return response


def latest(client, headers, sme_id: str) -> dict:
    return client.get(f"/api/v1/smes/{sme_id}", headers=headers).get_json()["latest_score"]


def test_export_as_ndjson_has_each_smes_latest_score_without_personal_fields(
    client, auth, admin, cohort
):
    response = export(client, auth("read"), "ndjson")
    assert response.mimetype == "application/x-ndjson"
    assert 'filename="sync-latest-scores.ndjson"' in response.headers["Content-Disposition"]
    rows = [json.loads(line) for line in response.data.decode("utf-8").splitlines()]
    assert [row["sme_id"] for row in rows] == cohort
    assert all(list(row) == SCORE_COLUMNS for row in rows)
    for row in rows:
        record = latest(client, admin, row["sme_id"])
        assert {k: row[k] for k in ("score", "tier", "scored_at", "knockouts")} == {
            k: record[k] for k in ("score", "tier", "scored_at", "knockouts")
        }


def test_export_includes_personal_fields_only_for_the_personal_scope(client, auth, profile, cohort):
    rows = [
        json.loads(line)
        for line in export(client, auth("read", "personal"), "ndjson").data.splitlines()
    ]
    assert all(list(row) == SCORE_COLUMNS + PERSONAL_COLUMNS for row in rows)
    assert {row["owner_name"] for row in rows} == {profile["owner_name"]}
    for format in ("csv", "parquet"):
        body = export(client, auth("read"), format).data
        assert profile["owner_name"].encode("utf-8") not in body
        assert profile["contact_email"].encode("utf-8") not in body


def test_export_as_csv_neutralises_formulas(client, auth, cohort):
    response = export(client, auth("read", "personal"), "csv")
    assert response.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(response.data.decode("utf-8"))))
    assert [row["sme_id"] for row in table] == cohort
    assert list(table[0]) == SCORE_COLUMNS + PERSONAL_COLUMNS
    named = {row["sme_id"]: row["name"] for row in table}
    assert named["X-2"] == '\'=HYPERLINK("http://x","klik")'
    dangerous = re.compile(r"^[=+\-@\t\r]")
    for row in table:
        for column in ("name", "owner_name", "contact_phone", "contact_email", "district"):
            assert not dangerous.match(row[column]) or re.fullmatch(r"-?[\d.]+", row[column])


def test_export_as_parquet_is_written_in_row_groups_and_reads_back(
    client, auth, admin, cohort, monkeypatch
):
    monkeypatch.setattr(downloads, "CHUNK_ROWS", 2)
    response = export(client, auth("read"), "parquet")
    assert response.mimetype == "application/vnd.apache.parquet"
    pieces = list(response.response)
    assert len(pieces) >= 3  # one piece per row group, then the footer
    parquet = pq.ParquetFile(io.BytesIO(b"".join(pieces)))
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    assert table.column_names == SCORE_COLUMNS
    assert table.schema.field("score").type == pa.float64()
    assert table.schema.field("scored_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("knockouts").type == pa.list_(pa.string())
    rows = table.to_pylist()
    assert [row["sme_id"] for row in rows] == cohort
    rescored = next(row for row in rows if row["sme_id"] == "X-3")
    record = latest(client, admin, "X-3")
    assert rescored["score"] == record["score"]
    assert rescored["scored_at"].isoformat().replace("+00:00", "Z") == record["scored_at"]


def test_export_is_in_the_processing_log(client, admin, auth, cohort):
    export(client, auth("read", "personal"), "csv")
    events = client.get("/api/v1/processing-log?action=export", headers=admin).get_json()
    assert events["items"][0]["subject"] == "cohort/sync"
    assert events["items"][0]["details"] == {
        "what": "latest_scores",
        "format": "csv",
        "rows": 5,
        "personal": True,
    }


def test_export_of_an_unknown_cohort_is_404_and_of_an_unknown_format_422(client, auth, cohort):
    headers = auth("read")
    assert client.get("/api/v1/cohorts/nobody/latest-scores", headers=headers).status_code == 404
    response = client.get("/api/v1/cohorts/sync/latest-scores?format=xlsx", headers=headers)
    assert [e["field"] for e in errors_of(response)] == ["format"]
    assert client.get("/api/v1/cohorts/sync/latest-scores").status_code == 401


def test_a_cohort_name_with_a_slash_or_spaces_is_exported(client, admin, auth, profile):
    upload(client, admin, profile, ["S-1"], cohort="2025/26 putaran 1")
    response = client.get(
        "/api/v1/cohorts/2025/26%20putaran%201/latest-scores", headers=auth("read")
    )
    assert response.status_code == 200
    assert [json.loads(line)["sme_id"] for line in response.data.splitlines()] == ["S-1"]
    assert (
        'filename="2025_26_putaran_1-latest-scores.ndjson"'
        in response.headers["Content-Disposition"]
    )


def test_export_on_sqlite_and_postgresql(db_url, make_app, make_key, profile):
    app = make_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    upload(client, headers, profile, ["P-2", "P-1", "P-3"])
    upload(client, headers, profile, ["P-2"], has_nib=False)
    rows = [json.loads(line) for line in export(client, headers, "ndjson").data.splitlines()]
    assert [row["sme_id"] for row in rows] == ["P-1", "P-2", "P-3"]
    assert list(rows[0]) == SCORE_COLUMNS + PERSONAL_COLUMNS
    assert rows[1]["score"] == latest(client, headers, "P-2")["score"]
    assert rows[1]["knockouts"] and not rows[0]["knockouts"]  # a JSON list read in SQL
    table = pq.read_table(io.BytesIO(export(client, headers, "parquet").data))
    assert table.column("sme_id").to_pylist() == ["P-1", "P-2", "P-3"]
    assert table.column("knockouts").to_pylist() == [row["knockouts"] for row in rows]
