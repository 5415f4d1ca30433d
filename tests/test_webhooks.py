"""Webhooks: subscriptions over the API, the command line and the admin page; deliveries to a
real receiver on loopback, signed so that an independent check verifies them, retried with
backoff after a 500 or a timeout, failed after the last retry, a subscription disabled
after failures in a row, sent again on request, sent once by racing workers, and sent
after a worker was killed between claiming a delivery and sending it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from web_helpers import csrf_token

from api.cli import main as cli
from api.config import DefaultConfig, ProductionConfig, TestConfig
from api.db import get_database
from api.services.webhooks import Dispatcher, UrlRefused, check_url
from api.tables import WebhookDelivery

pytest_plugins = ["api_fixtures", "db_fixtures", "web_fixtures"]

SME_EXPORT = Path(sys.executable).with_name("sme-export")
FAST = {
    "WEBHOOKS_RETRY_SECONDS": (0.3, 0.6),
    "WEBHOOKS_RETRY_JITTER": 0.0,
    "WEBHOOKS_TIMEOUT_SECONDS": 0.5,
}


# --- a receiver on loopback --------------------------------------------------------------------


class Receiver:
    """An HTTP server in a thread that records every POST and answers as told: a status, or
    ``("slow", seconds, status)`` to answer late. ``default`` once ``answers`` run out."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list = []
        self.default = 204
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "at": time.monotonic(),
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                    answer = receiver.answers.pop(0) if receiver.answers else receiver.default
                if isinstance(answer, tuple):
                    _, seconds, answer = answer
                    time.sleep(seconds)
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/sme-export"

    def events(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def verified(secret: str, headers: dict, body: bytes) -> bool:
    """The Standard Webhooks check, written from the specification: HMAC-SHA256 keyed with
    the base64-decoded secret after ``whsec_``, over ``id.timestamp.body``, base64, after
    ``v1,``; any of the space-separated signatures may match."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (s.partition(",") for s in headers["webhook-signature"].split())
    )


def wait_for(condition, *, timeout: float = 30.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"still not true after {timeout} s")


@pytest.fixture
def app(make_app):
    """The API fixtures' app, retrying quickly."""
    return make_app(**FAST)


def subscribe(client, headers, url: str, **body) -> dict:
    response = client.post("/api/v1/webhooks", json={"url": url, **body}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def score(client, headers, profile, sme_id: str) -> None:
    response = client.post("/api/v1/scores", json={**profile, "sme_id": sme_id}, headers=headers)
    assert response.status_code == 201, response.get_json()


def deliveries(client, headers, subscription_id: int) -> list[dict]:
    response = client.get(f"/api/v1/webhooks/{subscription_id}/deliveries", headers=headers)
    assert response.status_code == 200
    return response.get_json()["items"]


def run_until(app, condition, *, timeout: float = 30.0):
    """Let a worker's dispatcher pass again and again until ``condition()`` holds."""
    dispatcher = Dispatcher(app, name="test-worker")
    return wait_for(lambda: dispatcher.run_once() is not None and condition(), timeout=timeout)


# --- delivery, signature, body --------------------------------------------------------------------


def test_an_event_is_posted_signed_and_an_independent_check_verifies_it(
    app, receiver, auth, profile
):
    client = app.test_client()
    admin = auth("admin")
    score(client, admin, profile, "BEFORE-1")  # before the subscription: not sent
    created = subscribe(client, admin, receiver.url, types=["score.created"])
    score(client, admin, profile, "HOOK-1")

    run_until(app, lambda: receiver.requests)
    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    assert request["path"] == "/hooks/sme-export"
    assert headers["content-type"] == "application/json"
    assert verified(created["secret"], headers, body)
    assert not verified(created["secret"], headers, body + b" ")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    sent = json.loads(body)
    (item,) = client.get("/api/v1/events?types=score.created&after=1", headers=admin).get_json()[
        "items"
    ]
    assert sent == {key: value for key, value in item.items() if key != "cursor"}
    assert headers["webhook-id"] == str(sent["id"])
    assert (sent["type"], sent["data"]["sme_id"]) == ("score.created", "HOOK-1")
    (delivery,) = deliveries(client, admin, created["id"])
    assert (delivery["status"], delivery["attempts"], delivery["status_code"]) == (
        "delivered",
        1,
        204,
    )
    assert delivery["event_id"] == sent["id"] and delivery["error"] is None


def test_a_500_is_retried_with_backoff_until_it_is_answered(app, receiver, auth, profile):
    client = app.test_client()
    admin = auth("admin")
    created = subscribe(client, admin, receiver.url)
    receiver.answers = [500, 503]
    score(client, admin, profile, "RETRY-1")

    run_until(app, lambda: len(receiver.requests) == 3)
    times = [r["at"] for r in receiver.requests]
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.6  # the configured waits
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    (delivery,) = deliveries(client, admin, created["id"])
    assert (delivery["status"], delivery["attempts"], delivery["status_code"]) == (
        "delivered",
        3,
        204,
    )
    assert (
        client.get(f"/api/v1/webhooks/{created['id']}", headers=admin).get_json()[
            "consecutive_failures"
        ]
        == 0
    )


def test_a_receiver_that_does_not_answer_in_time_is_tried_again(app, receiver, auth, profile):
    client = app.test_client()
    admin = auth("admin")
    created = subscribe(client, admin, receiver.url)
    receiver.answers = [("slow", 2.0, 200)]
    score(client, admin, profile, "SLOW-1")

    dispatcher = Dispatcher(app, name="test-worker")
    started = time.monotonic()
    assert dispatcher.run_once() == 1
    assert time.monotonic() - started < 1.5  # gave up at the timeout, not after 2 s
    (delivery,) = deliveries(client, admin, created["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert delivery["error"] == "no answer within 0.5 s" and delivery["status_code"] is None
    run_until(app, lambda: deliveries(client, admin, created["id"])[0]["status"] == "delivered")
    assert len(receiver.requests) == 2


def test_after_the_last_retry_a_delivery_fails_and_failures_in_a_row_disable_the_subscription(
    make_app, receiver, auth, profile
):
    app = make_app(
        **{**FAST, "WEBHOOKS_RETRY_SECONDS": (0.05,), "WEBHOOKS_DISABLE_AFTER_FAILURES": 2}
    )
    client = app.test_client()
    admin = create_admin_key(app)
    created = subscribe(client, admin, receiver.url, types=["score.created"])
    receiver.default = 500
    for i in range(3):
        score(client, admin, profile, f"FAIL-{i}")

    subscription = run_until(
        app,
        lambda: (
            (s := client.get(f"/api/v1/webhooks/{created['id']}", headers=admin).get_json())
            and not s["active"]
            and s
        ),
    )
    assert subscription["disabled_reason"] == "2 deliveries in a row failed; the last: HTTP 500"
    assert subscription["consecutive_failures"] == 2 and subscription["disabled_at"]
    statuses = sorted(d["status"] for d in deliveries(client, admin, created["id"]))
    assert statuses == ["failed", "failed", "pending"]
    sent = len(receiver.requests)
    assert Dispatcher(app, name="later").run_once() == 0  # a disabled subscription gets nothing
    assert len(receiver.requests) == sent
    log = client.get("/api/v1/processing-log?action=webhook.disabled", headers=admin).get_json()
    assert [e["subject"] for e in log["items"]] == [f"webhook/{created['id']}"]


def create_admin_key(app) -> dict:
    from api_fixtures import create_key

    return {"X-API-Key": create_key(app, "admin")}


# --- send again ---------------------------------------------------------------------------------


def test_a_delivery_is_sent_again_on_request_and_not_while_its_subscription_is_disabled(
    app, receiver, auth, profile
):
    client = app.test_client()
    admin = auth("admin")
    created = subscribe(client, admin, receiver.url)
    score(client, admin, profile, "AGAIN-1")
    run_until(app, lambda: receiver.requests)
    (delivery,) = deliveries(client, admin, created["id"])
    url = f"/api/v1/webhooks/{created['id']}/deliveries/{delivery['id']}/resend"

    resent = client.post(url, headers=admin)
    assert resent.status_code == 202
    assert (resent.get_json()["status"], resent.get_json()["attempts"]) == ("pending", 0)
    run_until(app, lambda: len(receiver.requests) == 2)
    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert first["body"] == second["body"]

    disable = {"active": False}
    patched = client.patch(f"/api/v1/webhooks/{created['id']}", json=disable, headers=admin)
    assert patched.get_json()["disabled_reason"].startswith("disabled by key:")
    assert client.post(url, headers=admin).status_code == 409
    enabled = client.patch(
        f"/api/v1/webhooks/{created['id']}", json={"active": True}, headers=admin
    )
    assert enabled.get_json()["active"] and enabled.get_json()["disabled_reason"] is None
    assert client.post(url, headers=admin).status_code == 202
    assert (
        client.post(
            f"/api/v1/webhooks/{created['id']}/deliveries/999/resend", headers=admin
        ).status_code
        == 404
    )
    assert client.post(url, headers=auth("read")).status_code == 403


def test_the_admin_page_lists_deliveries_and_sends_one_again(
    make_key, receiver, login, web_app, profile
):
    admin = {"X-API-Key": make_key(web_app, "admin")}
    api = web_app.test_client()
    created = subscribe(api, admin, receiver.url, description="Sistem perizinan")
    score(api, admin, profile, "PAGE-1")
    run_until(web_app, lambda: receiver.requests)
    (delivery,) = deliveries(api, admin, created["id"])

    browser = login("admin")
    page = browser.get("/admin/webhooks")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert receiver.url in html and "Sistem perizinan" in html and "score.created" in html
    assert created["secret"] not in html
    token = csrf_token(browser, "/admin/webhooks")
    action = f"/admin/webhooks/deliveries/{delivery['id']}/resend"
    assert browser.post(action, data={}).status_code == 400  # no CSRF token
    response = browser.post(action, data={"csrf_token": token})
    assert response.status_code == 302
    assert deliveries(api, admin, created["id"])[0]["status"] == "pending"
    assert login("lead").get("/admin/webhooks").status_code == 403
    assert login("lead").post(action, data={"csrf_token": token}).status_code in (400, 403)


# --- workers: one claim per delivery, a killed worker's delivery sent after a restart ---------


def test_two_workers_racing_send_each_delivery_once(db_url, make_app, receiver, profile):
    app = make_app(DATABASE_URL=db_url, **FAST)
    client = app.test_client()
    admin = create_admin_key(app)
    subscribe(client, admin, receiver.url, types=["score.created"])
    rows = [{**profile, "sme_id": f"RACE-{i}"} for i in range(12)]
    assert client.post("/api/v1/batches", json=rows, headers=admin).status_code == 201
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        dispatcher = Dispatcher(app, name=name)
        barrier.wait()
        while dispatcher.run_once():
            pass

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == 12 and len(set(ids)) == 12


@pytest.mark.slow
def test_a_worker_killed_after_claiming_a_delivery_sends_it_after_a_restart(
    db_url, make_app, receiver, profile
):
    app = make_app(DATABASE_URL=db_url)
    client = app.test_client()
    admin = create_admin_key(app)
    created = subscribe(client, admin, receiver.url, types=["score.created"])
    score(client, admin, profile, "KILL-1")  # committed: the event and nothing sent yet

    env = {**os.environ, "DATABASE_URL": db_url, "SME_EXPORT_CONFIG": "default"}
    process = subprocess.Popen(
        [str(SME_EXPORT), "worker", "--webhook-pause", "60", "--webhook-lease", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sessions = get_database(app).sessions
    try:

        def claimed() -> bool:
            with sessions() as session:
                return session.scalar(select(WebhookDelivery.status)) == "sending"

        wait_for(claimed, timeout=120)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert receiver.requests == []

    time.sleep(1.2)  # the killed worker's lease runs out
    result = CliRunner().invoke(
        cli,
        ["worker", "--until-idle"],
        env={k: env[k] for k in ("DATABASE_URL", "SME_EXPORT_CONFIG")},
    )
    assert result.exit_code == 0, result.output
    (request,) = receiver.requests
    assert json.loads(request["body"])["data"]["sme_id"] == "KILL-1"
    (delivery,) = deliveries(client, admin, created["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)


# --- subscriptions: URLs, the API, the command line -----------------------------------------------


@pytest.mark.parametrize(
    ("url", "allow_loopback", "problem"),
    [
        ("https://perizinan.example.go.id/hooks", False, None),
        ("http://perizinan.example.go.id/hooks", True, "must be https"),
        ("http://127.0.0.1:8080/hooks", True, None),
        ("http://[::1]:8080/hooks", True, None),
        ("http://localhost/hooks", True, None),
        ("http://127.0.0.1:8080/hooks", False, "Loopback receivers are not allowed"),
        ("https://localhost/hooks", False, "Loopback receivers are not allowed"),
        ("https://user:pw@example.go.id/hooks", False, "user name or password"),
        ("ftp://example.go.id/hooks", False, "must be https"),
        ("https://example.go.id:99999/", False, "Not a URL"),
    ],
)
def test_only_https_urls_and_where_allowed_loopback_ones_are_accepted(url, allow_loopback, problem):
    if problem is None:
        assert check_url(url, allow_loopback=allow_loopback) == url
    else:
        with pytest.raises(UrlRefused, match=problem):
            check_url(url, allow_loopback=allow_loopback)


def test_loopback_receivers_are_allowed_embedded_and_in_tests_but_not_in_production(make_app):
    assert DefaultConfig.WEBHOOKS_ALLOW_LOOPBACK and TestConfig.WEBHOOKS_ALLOW_LOOPBACK
    assert ProductionConfig.WEBHOOKS_ALLOW_LOOPBACK is False
    app = make_app(WEBHOOKS_ALLOW_LOOPBACK=False)
    response = app.test_client().post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=create_admin_key(app)
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "url"


def test_subscriptions_are_managed_by_admins_and_never_show_their_secret_again(client, auth):
    admin = auth("admin")
    body = {"url": "https://perizinan.example.go.id/hooks", "types": ["sme.erased"]}
    assert client.post("/api/v1/webhooks", json=body, headers=auth("score")).status_code == 403
    created = subscribe(client, admin, **body)
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) == 32
    listed = client.get("/api/v1/webhooks", headers=admin).get_json()["items"]
    shown = client.get(f"/api/v1/webhooks/{created['id']}", headers=admin).get_json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert "secret" not in listed[0] and "secret" not in shown
    assert created["secret"] not in json.dumps(listed) + json.dumps(shown)
    changed = client.patch(
        f"/api/v1/webhooks/{created['id']}",
        json={"types": None, "description": "semua"},
        headers=admin,
    ).get_json()
    assert (changed["types"], changed["description"]) == (None, "semua")
    assert client.delete(f"/api/v1/webhooks/{created['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/webhooks/{created['id']}", headers=admin).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{created['id']}", headers=admin).status_code == 404
    assert client.get("/api/v1/webhooks/3000000000/deliveries", headers=admin).status_code == 404
    actions = [e["action"] for e in store_log(client, admin)]
    assert actions == ["webhook.deleted", "webhook.updated", "webhook.created"]


def store_log(client, headers) -> list[dict]:
    log = client.get("/api/v1/processing-log?per_page=10", headers=headers).get_json()["items"]
    return [e for e in log if e["action"].startswith("webhook.")]


def test_the_command_line_creates_lists_disables_and_resends(app, receiver, auth, profile):
    url = app.config["DATABASE_URL"]
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["webhooks", *args, "--database-url", url])

    created = run("create", "--url", receiver.url, "--type", "score.created")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("whsec_") and "cannot be shown again" in created.stderr
    refused = run("create", "--url", "http://example.go.id/x")
    assert refused.exit_code == 1 and "must be https" in refused.stderr

    client = app.test_client()
    score(client, auth("admin"), profile, "CLI-1")
    run_until(app, lambda: receiver.requests)
    assert verified(secret, receiver.requests[0]["headers"], receiver.requests[0]["body"])

    listing = run("list")
    assert (
        receiver.url in listing.stdout
        and "active" in listing.stdout
        and secret not in listing.stdout
    )
    shown = run("deliveries", "1")
    assert "delivered" in shown.stdout and "score.created" in shown.stdout
    with get_database(app).sessions() as session:
        delivery_id = session.scalar(select(WebhookDelivery.id))
    assert run("resend", str(delivery_id)).exit_code == 0
    disabled = run("disable", "1", "--reason", "receiver moved")
    assert disabled.exit_code == 0
    assert "disabled: receiver moved" in run("list").stdout
    again = run("resend", str(delivery_id))
    assert again.exit_code == 1 and "enable it first" in again.stderr
    assert run("enable", "1").exit_code == 0
    assert run("disable", "7").exit_code == 1
