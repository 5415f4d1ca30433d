"""``/readyz`` names the background batches: queued, running, and a running one whose
worker stopped renewing its lease (while that lasts), without taking the instance out."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from api.db import get_session
from api.tables import Batch, utcnow

pytest_plugins = ["api_fixtures"]


def _batch(session, status: str, *, lease_ago: float | None = None) -> None:
    batch = Batch(status=status, actor="key:x", source="records" if status != "complete" else None)
    session.add(batch)
    session.flush()
    if lease_ago is not None:
        expires = utcnow() - dt.timedelta(seconds=lease_ago)
        session.execute(
            update(Batch).where(Batch.id == batch.id).values(lease_expires_at=expires, worker="w1")
        )


def test_readyz_reports_the_queue_and_a_stopped_worker(app):
    client = app.test_client()
    assert client.get("/readyz").get_json()["checks"]["batches"] == {
        "ok": True,
        "detail": "0 queued, 0 running",
    }
    with app.app_context():
        session = get_session()
        _batch(session, "queued")
        _batch(session, "complete")
        _batch(session, "running", lease_ago=-30)  # its worker renews in time
        _batch(session, "running", lease_ago=12)  # its worker stopped 12 s ago
        session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200  # the instance still serves
    detail = response.get_json()["checks"]["batches"]["detail"]
    assert detail.startswith(
        "1 queued, 2 running; 1 running without a worker renewing its lease for "
    )
    seconds = int(detail.split("for ")[1].split(" s")[0])
    assert 12 <= seconds <= 60
    assert detail.endswith("(a worker stopped; the next free one takes it over)")
