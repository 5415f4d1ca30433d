"""/api/v1/decisions: support decisions recorded one by one or in bulk (all or none), with
the score they rested on; listed with filters, pages and outcome labels; corrected and
withdrawn; every field error named at once; every change in the processing log."""

from __future__ import annotations

import datetime as dt

import pytest

from api import store
from api.db import get_session
from api.tables import Sme

pytest_plugins = ["api_fixtures", "db_fixtures"]

DAY = "2025-03-14"
UNKNOWN_SME = "Unknown SME: no profile with this sme_id is stored."
UNSCORED_SME = "This SME has no stored score: score it before recording a decision."
BETWEEN_1_AND_100000 = "Must be greater than or equal to 1 and less than or equal to 100000."
KINDS = (
    "trade_fair, business_matching, certification_support, export_coaching, "
    "financing_referral, other"
)


def future_day() -> str:
    """A day after today wherever the machine's clock is (WIB is at most a day ahead)."""
    return (dt.date.today() + dt.timedelta(days=2)).isoformat()


def key_actor(headers: dict) -> str:
    return f"key:{headers['X-API-Key'].split('_')[1]}"


def support(sme_id: str = "D-1", **fields) -> dict:
    return {
        "sme_id": sme_id,
        "decision": "support",
        "support_kind": "trade_fair",
        "decided_on": DAY,
        **fields,
    }


def no_support(sme_id: str = "D-2", **fields) -> dict:
    return {
        "sme_id": sme_id,
        "decision": "no_support",
        "reason": "Belum punya NIB.",
        "decided_on": DAY,
        **fields,
    }


def score(client, headers, profile, sme_id: str, cohort: str, **changes) -> dict:
    body = {**profile, "sme_id": sme_id, **changes}
    response = client.post(f"/api/v1/scores?cohort={cohort}", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def scored(app, client, auth, profile) -> dict[str, dict]:
    """D-1 (apparel, cohort a) scored twice, D-2 (food, cohort b) and D-3 (apparel, cohort
    a) once, and N-1 stored without a score; the latest score record of each."""
    headers = auth("score", "personal")
    score(client, headers, profile, "D-1", "a", has_website=False)
    records = {
        "D-1": score(client, headers, profile, "D-1", "a", has_website=True),
        "D-2": score(client, headers, profile, "D-2", "b", sector="food_beverage"),
        "D-3": score(client, headers, profile, "D-3", "a"),
    }
    with app.app_context():
        session = get_session()
        session.add(Sme(sme_id="N-1", name="CV Belum Dinilai", sector="apparel", profile={}))
        session.commit()
    return records


def post(client, headers, body, path="/api/v1/decisions"):
    return client.post(path, json=body, headers=headers)


def errors_of(response) -> list[dict]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return response.get_json()["errors"]


def total(client, auth) -> int:
    return client.get("/api/v1/decisions", headers=auth("read")).get_json()["total"]


# --- one decision ------------------------------------------------------------------------------


def test_a_decision_keeps_the_latest_score_and_defaults_decided_by_to_the_key(client, auth, scored):
    headers = auth("score")
    response = post(client, headers, support(target_market="JP", cohort="a"))
    assert response.status_code == 201
    decision = response.get_json()
    assert response.headers["Location"] == f"/api/v1/decisions/{decision['id']}"
    latest = scored["D-1"]
    history = client.get("/api/v1/smes/D-1/scores", headers=auth("read")).get_json()["scores"]
    assert len(history) == 2 and history[-1]["scored_at"] == latest["scored_at"]
    assert {k: decision[k] for k in latest if k in decision} == {
        "sme_id": "D-1",
        "score": latest["score"],
        "tier": latest["tier"],
        "ml_probability": latest["ml_probability"],
        "model_version": latest["model_version"],
        "ruleset_version": latest["ruleset_version"],
        "scored_at": latest["scored_at"],
    }
    assert decision["score_id"] == 2  # the second of D-1's two scores
    assert {k: decision[k] for k in ("decision", "support_kind", "target_market", "cohort")} == {
        "decision": "support",
        "support_kind": "trade_fair",
        "target_market": "JP",
        "cohort": "a",
    }
    assert (decision["decided_on"], decision["sector"]) == (DAY, "apparel")
    assert decision["decided_by"] == decision["recorded_by"] == key_actor(headers)
    assert (decision["support_other"], decision["reason"], decision["shortlist"]) == (
        None,
        None,
        None,
    )
    assert (decision["exported_within_12m"], decision["label_basis"]) == (None, "no_followup")
    read = client.get(response.headers["Location"], headers=auth("read"))
    assert read.status_code == 200 and read.get_json() == decision


def test_a_no_support_decision_with_who_decided_and_its_shortlist(client, auth, scored):
    shortlist = {"cohort": "a", "capacity": 2, "max_per_sector": 1, "position": 3}
    body = no_support(decided_by="Komite Ekspor 2025", shortlist=shortlist, support_kind=None)
    decision = post(client, auth("score"), body).get_json()
    assert (decision["decision"], decision["reason"], decision["decided_by"]) == (
        "no_support",
        "Belum punya NIB.",
        "Komite Ekspor 2025",
    )
    assert decision["shortlist"] == shortlist
    assert decision["support_kind"] is None
    assert decision["tier"] == scored["D-2"]["tier"]


def test_other_support_needs_what_it_is(client, auth, scored):
    body = support(support_kind="other", support_other="Pelatihan foto produk")
    decision = post(client, auth("score"), body).get_json()
    assert (decision["support_kind"], decision["support_other"]) == (
        "other",
        "Pelatihan foto produk",
    )


def test_every_field_error_is_named_at_once(client, auth, scored):
    body = {
        "sme_id": "not an id!",
        "decision": "maybe",
        "support_kind": "lunch",
        "support_other": "x" * 1001,
        "target_market": "MARS",
        "decided_on": "14/03/2025",
        "decided_by": "",
        "reason": 7,
        "shortlist": {"cohort": "a", "batch_id": 1, "capacity": 0, "position": "1"},
        "cohort": "",
        "score": 99,
    }
    assert errors_of(post(client, auth("score"), body)) == [
        {
            "field": "sme_id",
            "message": "Must be 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit.",
        },
        {"field": "decision", "message": "Must be one of: support, no_support."},
        {"field": "support_kind", "message": f"Must be one of: {KINDS}."},
        {"field": "support_other", "message": "Length must be between 1 and 1000."},
        {
            "field": "target_market",
            "message": "Must be one of: EU, US, JP, CN, GCC, ASEAN, AU, OTHER.",
        },
        {"field": "decided_on", "message": "Not a valid date."},
        {"field": "decided_by", "message": "Length must be between 1 and 200."},
        {"field": "reason", "message": "Not a valid string."},
        {"field": "shortlist.capacity", "message": BETWEEN_1_AND_100000},
        {"field": "shortlist.position", "message": "Not a valid integer."},
        {"field": "shortlist.cohort", "message": "Give at most one of cohort or batch_id."},
        {"field": "shortlist.batch_id", "message": "Give at most one of cohort or batch_id."},
        {"field": "cohort", "message": "Length must be between 1 and 100."},
        {"field": "score", "message": "Unknown field."},
    ]
    assert total(client, auth) == 0


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"support_kind": None},
            [{"field": "support_kind", "message": "Required when decision is support."}],
        ),
        (
            {"support_kind": "other"},
            [{"field": "support_other", "message": "Required when support_kind is other."}],
        ),
        (
            {"decision": "no_support", "support_other": "Pameran"},
            [
                {"field": "reason", "message": "Required when decision is no_support: say why."},
                {"field": "support_kind", "message": "Must be empty when decision is no_support."},
                {
                    "field": "support_other",
                    "message": "Must be empty when decision is no_support.",
                },
            ],
        ),
        (
            {"decision": "no_support", "support_kind": None, "reason": "   "},
            [{"field": "reason", "message": "Required when decision is no_support: say why."}],
        ),
        (
            {"decided_on": "1999-12-31"},
            [{"field": "decided_on", "message": "Must not be before 2000-01-01."}],
        ),
    ],
)
def test_cross_field_rules_are_422_naming_each_field(client, auth, scored, changes, expected):
    assert errors_of(post(client, auth("score"), support(**changes))) == expected


def test_a_future_decision_is_422_together_with_the_field_errors(client, auth, scored):
    body = support(decided_on=future_day(), support_kind=None, target_market="MARS")
    assert errors_of(post(client, auth("score"), body)) == [
        {
            "field": "target_market",
            "message": "Must be one of: EU, US, JP, CN, GCC, ASEAN, AU, OTHER.",
        },
        {"field": "decided_on", "message": "Must not be in the future."},
        {"field": "support_kind", "message": "Required when decision is support."},
    ]


def test_a_field_that_failed_is_not_judged_again_by_the_cross_field_rules(client, auth, scored):
    body = support(support_kind="lunch")
    assert errors_of(post(client, auth("score"), body)) == [
        {"field": "support_kind", "message": f"Must be one of: {KINDS}."}
    ]


@pytest.mark.parametrize(("sme_id", "message"), [("X-404", UNKNOWN_SME), ("N-1", UNSCORED_SME)])
def test_an_unknown_or_unscored_sme_is_422_naming_sme_id(client, auth, scored, sme_id, message):
    response = post(client, auth("score"), support(sme_id))
    assert errors_of(response) == [{"field": "sme_id", "message": message}]
    assert total(client, auth) == 0


def test_missing_fields_and_a_body_that_is_no_object(client, auth, scored):
    assert errors_of(post(client, auth("score"), {})) == [
        {"field": "sme_id", "message": "Missing data for required field."},
        {"field": "decision", "message": "Missing data for required field."},
        {"field": "decided_on", "message": "Missing data for required field."},
    ]
    assert errors_of(post(client, auth("score"), [support()])) == [
        {"field": "_schema", "message": "Invalid input type."}
    ]


def test_a_body_that_is_not_json_is_415(client, auth, scored):
    response = client.post(
        "/api/v1/decisions", data="sme_id=D-1", headers=auth("score"), content_type="text/plain"
    )
    assert response.status_code == 415


# --- many decisions ----------------------------------------------------------------------------


def test_bulk_records_every_decision_with_the_shared_shortlist(client, auth, scored):
    shared = {"cohort": "a", "capacity": 2, "target_market": "EU"}
    body = {
        "decisions": [
            support("D-1", shortlist={"position": 1}),
            support("D-3", support_kind="business_matching", shortlist={"position": 2}),
            no_support("D-2", shortlist={"position": 3, "cohort": "b"}),
        ],
        "shortlist": shared,
    }
    response = post(client, auth("score"), body, "/api/v1/decisions/bulk")
    assert response.status_code == 201
    decisions = response.get_json()["decisions"]
    assert [(d["sme_id"], d["decision"], d["shortlist"]) for d in decisions] == [
        ("D-1", "support", {**shared, "position": 1}),
        ("D-3", "support", {**shared, "position": 2}),
        ("D-2", "no_support", {**shared, "cohort": "b", "position": 3}),
    ]
    assert [d["score"] for d in decisions] == [scored[s]["score"] for s in ("D-1", "D-3", "D-2")]
    assert all(d["label_basis"] == "no_followup" for d in decisions)
    assert total(client, auth) == 3


def test_bulk_is_all_or_nothing_and_names_every_item(client, auth, scored):
    body = {
        "decisions": [
            support("D-1"),
            support("D-2", support_kind=None),
            no_support("D-3", reason=None, decided_on="2025-02-30"),
            support("D-1", support_kind="other", cohort=""),
        ],
        "shortlist": {"capacity": -1},
    }
    assert errors_of(post(client, auth("score"), body, "/api/v1/decisions/bulk")) == [
        {"field": "decisions.1.support_kind", "message": "Required when decision is support."},
        {"field": "decisions.2.decided_on", "message": "Not a valid date."},
        {
            "field": "decisions.2.reason",
            "message": "Required when decision is no_support: say why.",
        },
        {"field": "decisions.3.cohort", "message": "Length must be between 1 and 100."},
        {"field": "decisions.3.support_other", "message": "Required when support_kind is other."},
        {"field": "shortlist.capacity", "message": BETWEEN_1_AND_100000},
    ]
    assert total(client, auth) == 0


def test_bulk_with_unknown_smes_stores_nothing_and_names_their_items(client, auth, scored):
    body = {"decisions": [support("D-1"), support("X-404"), support("N-1"), no_support("X-404")]}
    assert errors_of(post(client, auth("score"), body, "/api/v1/decisions/bulk")) == [
        {"field": "decisions.1.sme_id", "message": UNKNOWN_SME},
        {"field": "decisions.3.sme_id", "message": UNKNOWN_SME},
        {"field": "decisions.2.sme_id", "message": UNSCORED_SME},
    ]
    assert total(client, auth) == 0


@pytest.mark.parametrize(
    ("count", "message"),
    [(0, "Length must be between 1 and 500."), (501, "Length must be between 1 and 500.")],
)
def test_bulk_takes_one_to_500_decisions(client, auth, scored, count, message):
    body = {"decisions": [support("D-1")] * count}
    response = post(client, auth("score"), body, "/api/v1/decisions/bulk")
    assert errors_of(response) == [{"field": "decisions", "message": message}]


def test_bulk_of_500_is_recorded(client, auth, scored):
    body = {"decisions": [support("D-1")] * 500}
    response = post(client, auth("score"), body, "/api/v1/decisions/bulk")
    assert response.status_code == 201
    assert len(response.get_json()["decisions"]) == 500


# --- lists -------------------------------------------------------------------------------------


@pytest.fixture
def recorded(client, auth, scored) -> list[dict]:
    """Four decisions: D-1 supported twice (2025-01-10 and 2025-03-14), D-3 in 2025-06-01,
    D-2 not supported on 2025-03-14."""
    body = {
        "decisions": [
            support("D-1", decided_on="2025-01-10", support_kind="export_coaching"),
            support("D-1"),
            support("D-3", decided_on="2025-06-01", cohort="kohort-x"),
            no_support("D-2"),
        ]
    }
    response = post(client, auth("score"), body, "/api/v1/decisions/bulk")
    assert response.status_code == 201
    return response.get_json()["decisions"]


def listed(client, auth, query: str = "") -> list[int]:
    response = client.get(f"/api/v1/decisions?{query}", headers=auth("read"))
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [3, 4, 2, 1]),
        ("sme_id=D-1", [2, 1]),
        ("cohort=a", [3, 2, 1]),
        ("cohort=kohort-x", [3]),
        ("sector=food_beverage", [4]),
        ("support_kind=export_coaching", [1]),
        ("decision=no_support", [4]),
        ("decided_from=2025-03-14", [3, 4, 2]),
        ("decided_until=2025-03-14", [4, 2, 1]),
        ("decided_from=2025-03-14&decided_until=2025-03-14&decision=support", [2]),
        ("decided_from=2025-07-01", []),
    ],
)
def test_list_is_newest_first_and_filtered(client, auth, recorded, query, expected):
    assert listed(client, auth, query) == expected


def test_list_pages_and_labels(client, auth, recorded):
    response = client.get("/api/v1/decisions?page=2&per_page=3", headers=auth("read"))
    body = response.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (4, 2, 3)
    [item] = body["items"]
    assert item == recorded[0]
    assert (item["exported_within_12m"], item["label_basis"]) == (None, "no_followup")
    assert client.get("/api/v1/decisions", headers=auth("read")).get_json()["per_page"] == 50


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("per_page=501", "per_page", "Must be at most 500."),
        ("per_page=0", "per_page", "Must be greater than or equal to 1."),
        ("page=0", "page", "Must be greater than or equal to 1 and less than or equal to 1000000."),
        ("decision=maybe", "decision", "Must be one of: support, no_support."),
        ("sector=space", "sector", None),
        ("support_kind=lunch", "support_kind", f"Must be one of: {KINDS}."),
        ("decided_from=14/03/2025", "decided_from", "Not a valid date."),
        ("sme_id=a%20b", "sme_id", None),
    ],
)
def test_bad_list_parameters_are_422_naming_the_field(client, auth, query, field, message):
    response = client.get(f"/api/v1/decisions?{query}", headers=auth("read"))
    [error] = errors_of(response)
    assert error["field"] == field
    if message is not None:
        assert error["message"] == message


def test_per_page_is_limited_by_the_configured_maximum(make_app, make_key):
    app = make_app(PAGE_SIZE_MAX=10, PAGE_SIZE_DEFAULT=50)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "read")}
    assert client.get("/api/v1/decisions", headers=headers).get_json()["per_page"] == 10
    response = client.get("/api/v1/decisions?per_page=11", headers=headers)
    assert response.get_json()["errors"] == [
        {"field": "per_page", "message": "Must be at most 10."}
    ]


# --- corrections -------------------------------------------------------------------------------


def test_a_decision_is_corrected_but_keeps_its_sme_and_score(client, auth, recorded):
    before = recorded[1]
    changes = {
        "decision": "no_support",
        "support_kind": None,
        "reason": "Kapasitas produksi belum cukup.",
        "decided_on": "2025-03-20",
        "decided_by": "Kepala Bidang",
        "shortlist": {"cohort": "a", "position": 4},
    }
    response = client.patch("/api/v1/decisions/2", json=changes, headers=auth("score"))
    assert response.status_code == 200
    after = response.get_json()
    assert after == {**before, **changes, "updated_at": after["updated_at"]}
    assert after["updated_at"] > before["updated_at"]
    assert client.get("/api/v1/decisions/2", headers=auth("read")).get_json() == after


def test_a_correction_is_checked_on_the_corrected_decision_with_the_bodys_errors(
    client, auth, recorded
):
    body = {"decision": "no_support", "decided_on": "kemarin", "sme_id": "D-2", "score": 90}
    response = client.patch("/api/v1/decisions/2", json=body, headers=auth("score"))
    assert errors_of(response) == [
        {"field": "sme_id", "message": "Cannot be changed: record a new decision instead."},
        {"field": "decided_on", "message": "Not a valid date."},
        {"field": "score", "message": "Unknown field."},
        {"field": "reason", "message": "Required when decision is no_support: say why."},
        {"field": "support_kind", "message": "Must be empty when decision is no_support."},
    ]
    future = client.patch(
        "/api/v1/decisions/2", json={"decided_on": future_day()}, headers=auth("score")
    )
    assert errors_of(future) == [{"field": "decided_on", "message": "Must not be in the future."}]
    for body in ({"decision": None}, {"decided_by": None}):
        [error] = errors_of(client.patch("/api/v1/decisions/2", json=body, headers=auth("score")))
        assert error["message"] == "Field may not be null."
    assert client.get("/api/v1/decisions/2", headers=auth("read")).get_json() == recorded[1]


def test_an_empty_correction_changes_nothing(app, client, auth, recorded):
    response = client.patch("/api/v1/decisions/2", json={}, headers=auth("score"))
    assert response.status_code == 200
    assert response.get_json() == recorded[1]
    with app.app_context():
        _, updates = store.processing_log(get_session(), action="decision.update")
    assert updates == 0


def test_a_withdrawn_decision_is_gone(client, auth, recorded):
    response = client.delete("/api/v1/decisions/2", headers=auth("score"))
    assert (response.status_code, response.data) == (204, b"")
    assert client.get("/api/v1/decisions/2", headers=auth("read")).status_code == 404
    assert client.delete("/api/v1/decisions/2", headers=auth("score")).status_code == 404
    assert listed(client, auth) == [3, 4, 1]


@pytest.mark.parametrize(
    ("method", "scope", "body"),
    [("get", "read", None), ("patch", "score", {"reason": "x"}), ("delete", "score", None)],
)
@pytest.mark.parametrize("decision_id", [99, 2**31 - 1, 2**31])
def test_unknown_decisions_are_404(client, auth, recorded, method, scope, body, decision_id):
    kwargs = {"json": body} if body is not None else {}
    response = getattr(client, method)(
        f"/api/v1/decisions/{decision_id}", headers=auth(scope), **kwargs
    )
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


# --- keys and scopes ---------------------------------------------------------------------------

ROUTES = [
    ("post", "/api/v1/decisions", "score", support()),
    ("post", "/api/v1/decisions/bulk", "score", {"decisions": [support()]}),
    ("get", "/api/v1/decisions", "read", None),
    ("get", "/api/v1/decisions/1", "read", None),
    ("patch", "/api/v1/decisions/1", "score", {"reason": "x"}),
    ("delete", "/api/v1/decisions/1", "score", None),
]


@pytest.mark.parametrize(("method", "path", "scope", "body"), ROUTES)
def test_every_operation_needs_a_key_with_its_scope(
    client, auth, recorded, method, path, scope, body
):
    kwargs = {"json": body} if body is not None else {}
    call = getattr(client, method)
    missing = call(path, **kwargs)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'
    wrong = "read" if scope == "score" else "score"
    forbidden = call(path, headers=auth(wrong), **kwargs)
    assert forbidden.status_code == 403
    assert forbidden.get_json()["detail"] == f"This API key lacks the '{scope}' scope."
    assert call(path, headers=auth("admin"), **kwargs).status_code < 300


# --- the processing log ------------------------------------------------------------------------


def test_every_change_is_in_the_processing_log(client, auth, scored):
    headers = auth("score")
    first = post(client, headers, support()).get_json()
    bulk = post(client, headers, {"decisions": [no_support()]}, "/api/v1/decisions/bulk")
    second = bulk.get_json()["decisions"][0]
    client.patch(f"/api/v1/decisions/{first['id']}", json={"reason": "x"}, headers=headers)
    client.delete(f"/api/v1/decisions/{second['id']}", headers=headers)
    log = client.get("/api/v1/processing-log?per_page=500", headers=auth("admin")).get_json()
    events = [
        (e["action"], e["actor"], e["subject"], e["details"])
        for e in reversed(log["items"])
        if e["action"].startswith("decision.")
    ]
    actor = key_actor(headers)
    assert events == [
        (
            "decision.record",
            actor,
            "D-1",
            {
                "decision_id": 1,
                "decision": "support",
                "support_kind": "trade_fair",
                "decided_on": DAY,
            },
        ),
        (
            "decision.record",
            actor,
            "D-2",
            {"decision_id": 2, "decision": "no_support", "support_kind": None, "decided_on": DAY},
        ),
        (
            "decision.update",
            actor,
            "D-1",
            {
                "decision_id": 1,
                "decision": "support",
                "support_kind": "trade_fair",
                "decided_on": DAY,
            },
        ),
        (
            "decision.delete",
            actor,
            "D-2",
            {"decision_id": 2, "decision": "no_support", "support_kind": None, "decided_on": DAY},
        ),
    ]


# --- both databases ----------------------------------------------------------------------------


def test_decisions_end_to_end_on_sqlite_and_postgresql(db_url, make_app, make_key, profile):
    app = make_app(DATABASE_URL=db_url)
    client = app.test_client()
    headers = {"X-API-Key": make_key(app, "admin")}
    for sme_id, cohort in (("D-1", "a"), ("D-2", "a"), ("D-3", "b")):
        score(client, headers, profile, sme_id, cohort)
    one = client.post("/api/v1/decisions", json=support("D-1"), headers=headers)
    assert one.status_code == 201
    body = {
        "decisions": [no_support("D-2"), support("D-3", decided_on="2025-04-01")],
        "shortlist": {"batch_id": 1, "capacity": 5},
    }
    bulk = client.post("/api/v1/decisions/bulk", json=body, headers=headers)
    assert bulk.status_code == 201
    assert [d["shortlist"] for d in bulk.get_json()["decisions"]] == [
        {"batch_id": 1, "capacity": 5}
    ] * 2
    bad = {"decisions": [support("D-1"), support("X-9")]}
    assert client.post("/api/v1/decisions/bulk", json=bad, headers=headers).status_code == 422
    page = client.get("/api/v1/decisions?cohort=a", headers=headers).get_json()
    assert (page["total"], [d["sme_id"] for d in page["items"]]) == (2, ["D-2", "D-1"])
    patched = client.patch(
        "/api/v1/decisions/1", json={"support_kind": "business_matching"}, headers=headers
    )
    assert patched.get_json()["support_kind"] == "business_matching"
    assert client.delete("/api/v1/decisions/2", headers=headers).status_code == 204
    listed_ids = [
        d["id"] for d in client.get("/api/v1/decisions", headers=headers).get_json()["items"]
    ]
    assert listed_ids == [3, 1]
