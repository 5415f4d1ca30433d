"""Each sector's average category scores, drawn beside an SME's own on its page and in its
report, kept by each process for ``SECTOR_AVERAGES_SECONDS``.

Computing them takes the latest score of every SME in the sector, so an office with many
thousands of SMEs would otherwise pay for a scan on every page view. An average a minute
old is as good as a fresh one for a comparison chart.
"""

from __future__ import annotations

import threading
import time

from flask import current_app
from sqlalchemy.orm import Session

from api import store

EXTENSION = "sme_export.sector_averages"


class SectorAverages:
    """Averages and SME count per sector, each read at most every ``seconds``.

    One request of a process reads a sector's figures again when they are due; requests
    arriving meanwhile get the figures it is replacing rather than each starting the same
    read (only the very first read of a sector is waited for).
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._reading: dict[str, threading.Lock] = {}
        self._known: dict[str, tuple[float, dict[str, float], int]] = {}

    def get(self, session: Session, sector: str) -> tuple[dict[str, float], int]:
        """The sector's mean category scores and how many SMEs they rest on."""
        if self.seconds <= 0:
            return store.sector_category_averages(session, sector)
        with self._lock:
            known = self._known.get(sector)
            reading = self._reading.setdefault(sector, threading.Lock())
        if known is not None and time.monotonic() - known[0] < self.seconds:
            return known[1], known[2]
        if not reading.acquire(blocking=known is None):
            return known[1], known[2]  # another request is reading them
        try:
            with self._lock:
                latest = self._known.get(sector)
            if latest is not None and latest is not known:
                return latest[1], latest[2]  # read while this request waited
            now = time.monotonic()
            averages, count = store.sector_category_averages(session, sector)
            with self._lock:
                self._known[sector] = (now, averages, count)
            return averages, count
        finally:
            reading.release()


def sector_averages(session: Session, sector: str) -> tuple[dict[str, float], int]:
    """The current app's (possibly kept) averages and count of ``sector``."""
    holder = current_app.extensions.get(EXTENSION)
    if holder is None:
        holder = current_app.extensions.setdefault(
            EXTENSION, SectorAverages(float(current_app.config["SECTOR_AVERAGES_SECONDS"]))
        )
    return holder.get(session, sector)
