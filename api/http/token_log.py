"""Log lines never carry an invitation's token: ``/self/<token>`` is logged as
``/self/<redacted>``.

The token in an SME's self-assessment link is the only key to its answers, so the access
logs of ``sme-export serve`` (werkzeug's logger) and of gunicorn (``gunicorn.access``,
``gunicorn.error``) pass through a filter that rewrites such paths in the message and its
arguments before any handler sees the record. The app's own error logs name the route
(``/self/<token>``), never the path.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

_TOKEN_PATH = re.compile(r"(/self/)[^/?#\s\"']+")
REDACTED = r"\1<redacted>"
#: The loggers that write request lines.
LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


def redact(text: str) -> str:
    """``text`` with the token of every ``/self/<token>`` path replaced."""
    return _TOKEN_PATH.sub(REDACTED, text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactInvitationTokens(logging.Filter):
    """Rewrites ``/self/<token>`` in a record's message and arguments; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(value) for value in record.args)
        return True


def install() -> None:
    """Add the filter to the request-line loggers (once per process)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactInvitationTokens) for f in logger.filters):
            logger.addFilter(RedactInvitationTokens())
