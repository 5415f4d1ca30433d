"""The sector averages an SME's page draws: kept by each process for a while, then read
again (``SECTOR_AVERAGES_SECONDS``)."""

from __future__ import annotations

import threading

from api.db import get_session
from api.services import sector_averages as module
from api.services.sector_averages import SectorAverages

pytest_plugins = ["api_fixtures"]


def test_averages_are_kept_for_the_configured_seconds_then_read_again(app, monkeypatch):
    reads = []

    def averages(session, sector):
        reads.append(sector)
        return {"legal": float(len(reads))}, 7

    monkeypatch.setattr(module.store, "sector_category_averages", averages)
    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    kept = SectorAverages(60.0)
    with app.app_context():
        session = get_session()
        assert kept.get(session, "apparel") == ({"legal": 1.0}, 7)
        clock[0] += 59.0
        assert kept.get(session, "apparel") == ({"legal": 1.0}, 7)
        assert kept.get(session, "food") == ({"legal": 2.0}, 7)
        clock[0] += 1.0
        assert kept.get(session, "apparel") == ({"legal": 3.0}, 7)
    assert reads == ["apparel", "food", "apparel"]


def test_zero_seconds_reads_them_on_every_call(app, monkeypatch):
    calls = []
    monkeypatch.setattr(
        module.store, "sector_category_averages", lambda s, sector: (calls.append(sector), 0)
    )
    with app.app_context():
        module.sector_averages(get_session(), "apparel")
        module.sector_averages(get_session(), "apparel")
    assert app.config["SECTOR_AVERAGES_SECONDS"] == 0.0
    assert calls == ["apparel", "apparel"]


def test_while_one_request_reads_due_averages_the_others_get_the_kept_ones(app, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    reading, release = threading.Event(), threading.Event()
    reads = []

    def averages(session, sector):
        reads.append(sector)
        if len(reads) == 2:  # the second read is slow
            reading.set()
            release.wait(5)
        return {"legal": float(len(reads))}, len(reads)

    monkeypatch.setattr(module.store, "sector_category_averages", averages)
    kept = SectorAverages(60.0)
    with app.app_context():
        session = get_session()
        assert kept.get(session, "apparel") == ({"legal": 1.0}, 1)
        clock[0] += 61.0
        answers = []
        slow = threading.Thread(target=lambda: answers.append(kept.get(session, "apparel")))
        slow.start()
        assert reading.wait(5)
        others = [kept.get(session, "apparel") for _ in range(3)]
        release.set()
        slow.join(5)
        assert kept.get(session, "apparel") == ({"legal": 2.0}, 2)
    assert others == [({"legal": 1.0}, 1)] * 3
    assert answers == [({"legal": 2.0}, 2)]
    assert reads == ["apparel", "apparel"]
