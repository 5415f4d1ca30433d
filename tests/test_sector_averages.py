"""The sector averages an SME's page draws: kept by each process for a while, then read
again (``SECTOR_AVERAGES_SECONDS``)."""

from __future__ import annotations

from api.db import get_session
from api.services import sector_averages as module
from api.services.sector_averages import SectorAverages

pytest_plugins = ["api_fixtures"]


def test_averages_are_kept_for_the_configured_seconds_then_read_again(app, monkeypatch):
    reads = []

    def averages(session, sector):
        reads.append(sector)
        return {"legal": float(len(reads))}

    monkeypatch.setattr(module.store, "sector_category_averages", averages)
    monkeypatch.setattr(module.store, "sector_scored_count", lambda session, sector: 7)
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
        module.store, "sector_category_averages", lambda s, sector: calls.append(sector) or {}
    )
    monkeypatch.setattr(module.store, "sector_scored_count", lambda s, sector: 0)
    with app.app_context():
        module.sector_averages(get_session(), "apparel")
        module.sector_averages(get_session(), "apparel")
    assert app.config["SECTOR_AVERAGES_SECONDS"] == 0.0
    assert calls == ["apparel", "apparel"]
