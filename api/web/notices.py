"""How an uploaded spreadsheet was read (``scoring.files.notices``), in the language of a
page or of the command line: the catalogue's ``notice.*`` texts filled with each notice's
details."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api.web.i18n import shipped_catalogue
from scoring.files.notices import (
    BLANK_ROWS,
    COLUMN_ALIAS,
    HEADER_ROW,
    MERGED_GROUP,
    MERGED_HEADER,
    notice_runs,
    rows_text,
)

#: Where the catalogue names a column read by another name: a profile field's form label,
#: a follow-up column's.
FIELD_LABEL = "field.{}.label"
OUTCOME_LABEL = "outcomes.field.{}"


def notice_text(
    notice: Mapping[str, Any], catalogue: Mapping[str, str], *, label_key: str = FIELD_LABEL
) -> str:
    """One notice (``Notice.to_dict()``) in the language of ``catalogue``; a column read by
    another name is followed by its label (``label_key``); the notice's English message
    when the catalogue has no text for it."""
    code = notice.get("code", "")
    params = {k: v for k, v in notice.items() if k not in ("code", "message")}
    key = f"notice.{code}"
    if code == HEADER_ROW and params.get("last_row", params.get("row")) != params.get("row"):
        key = "notice.header_rows"
    elif code == BLANK_ROWS:
        params["rows"] = rows_text(notice_runs(notice))
        key += ".one" if params.get("count") == 1 else ".many"
    elif code in (MERGED_HEADER, MERGED_GROUP):
        key += ".many" if "-" in str(params.get("columns", "")) else ".one"
    elif code == COLUMN_ALIAS:
        label = catalogue.get(label_key.format(params.get("field")))
        params["label"] = f" ({label})" if label else ""
    text = catalogue.get(key)
    try:
        return text.format(**params) if text is not None else str(notice.get("message", ""))
    except (KeyError, IndexError, ValueError):  # a notice stored by another version
        return str(notice.get("message", ""))


def notice_texts(
    notices: Iterable[Mapping[str, Any]],
    catalogue: Mapping[str, str],
    *,
    label_key: str = FIELD_LABEL,
) -> list[str]:
    """``notice_text`` of each notice, in order."""
    return [notice_text(n, catalogue, label_key=label_key) for n in notices]


def command_line_notices(
    notices: Iterable[Mapping[str, Any]], lang: str, *, label_key: str = FIELD_LABEL
) -> list[str]:
    """For the command line: the notices' English messages, or in Bahasa Indonesia the
    pages' texts."""
    if lang == "en":
        return [str(notice.get("message", "")) for notice in notices]
    return notice_texts(notices, shipped_catalogue(lang), label_key=label_key)
