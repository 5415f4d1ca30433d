"""JSON arrays of objects (parsed whole, within a size limit) and JSON Lines (one object
per line, streamed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np
import pandas as pd

from scoring.errors import FileFormatError
from scoring.files.layout import column_names
from scoring.files.limits import UTF8_BOM, ReadLimits, decode_utf8, size_text, utf8_error
from scoring.files.streams import read_up_to
from scoring.files.table import RawTable, object_column, raw_table, with_columns


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _records_frame(records: list[dict], keys: dict[str, str]) -> pd.DataFrame:
    """Records as columns of native values; a key an object lacks gives None."""
    present = dict.fromkeys(key for record in records for key in record)
    frame = pd.DataFrame(
        {keys[key]: object_column([r.get(key) for r in records]) for key in present},
        index=pd.RangeIndex(len(records)),
    )
    return frame


def _register_keys(
    keys: dict[str, str], records: list[dict], source: str, *, max_columns: int
) -> None:
    """Add the records' keys to ``keys`` (original -> normalised), refusing clashes."""
    new = [k for k in dict.fromkeys(k for r in records for k in r) if k not in keys]
    if not new:
        return
    names = column_names([*keys, *new], source, max_columns=max_columns)
    if "" in names:
        raise FileFormatError(f"{source}: an object has an empty key; name every field")
    keys.update(zip(new, names[len(keys) :], strict=True))


def iter_json(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    """The chunks of a JSON array of objects, parsed whole within ``max_json_bytes``."""
    data = read_up_to(stream, limits.max_json_bytes + 1)
    if len(data) > limits.max_json_bytes:
        raise FileFormatError(
            f"{source}: a JSON array file may hold at most {size_text(limits.max_json_bytes)}; "
            "write larger files as JSON Lines (.jsonl, one object per line)"
        )
    text = decode_utf8(data, source, final=True)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            "expected an array of objects"
        ) from exc
    except RecursionError as exc:
        raise FileFormatError(
            f"{source}: JSON nested too deeply; expected an array of flat objects"
        ) from exc
    except ValueError as exc:  # an integer of thousands of digits
        raise FileFormatError(f"{source}: unreadable JSON number ({exc})") from exc
    if not isinstance(document, list):
        raise FileFormatError(
            f"{source}: the JSON document is {_json_kind(document)}; "
            "expected an array of objects ([{...}, ...]) or JSON Lines"
        )
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise FileFormatError(
                f"{source}: item {index + 1} of the JSON array is {_json_kind(item)}; "
                "expected an object"
            )
    keys: dict[str, str] = {}
    _register_keys(keys, document, source, max_columns=limits.max_columns)
    columns = list(keys.values())
    for start in range(0, len(document), chunk_rows):
        part = document[start : start + chunk_rows]
        frame = with_columns(_records_frame(part, keys), columns)
        numbers = np.arange(start + 1, start + 1 + len(part), dtype=np.int64)
        yield raw_table(frame, numbers, decimal=".", source=source, next_row=start + 1)
    if not document:
        yield raw_table(
            pd.DataFrame(), np.empty(0, np.int64), decimal=".", source=source, next_row=1
        )


def iter_jsonl(
    stream: BinaryIO, source: str, head: bytes, chunk_rows: int, limits: ReadLimits
) -> Iterator[RawTable]:
    """The chunks of a JSON Lines file, read one line at a time; blank lines are skipped."""
    keys: dict[str, str] = {}
    records: list[dict] = []
    numbers: list[int] = []
    offset, yielded, line_number = 0, False, 0
    longest = limits.max_line_bytes

    def flush() -> RawTable:
        _register_keys(keys, records, source, max_columns=limits.max_columns)
        frame = _records_frame(records, keys)
        return raw_table(frame, np.asarray(numbers), decimal=".", source=source, next_row=1)

    lines = iter(lambda: stream.readline(longest + 1), b"")  # never more than a line in memory
    for line_number, raw in enumerate(lines, start=1):
        if len(raw) > longest:
            raise FileFormatError(
                f"{source}: line {line_number} is longer than {size_text(longest)}; "
                "expected one JSON object per line"
            )
        line = raw.removeprefix(UTF8_BOM) if line_number == 1 else raw
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = offset + len(raw) - len(line) + exc.start
            raise utf8_error(source, where, line_number) from exc
        offset += len(raw)
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FileFormatError(
                f"{source}: invalid JSON at line {line_number}, column {exc.colno}: {exc.msg}; "
                "expected one JSON object per line"
            ) from exc
        except RecursionError as exc:
            raise FileFormatError(
                f"{source}: JSON nested too deeply at line {line_number}; expected flat objects"
            ) from exc
        except ValueError as exc:  # an integer of thousands of digits
            raise FileFormatError(
                f"{source}: unreadable JSON number at line {line_number} ({exc})"
            ) from exc
        if not isinstance(record, dict):
            raise FileFormatError(
                f"{source}: line {line_number} is {_json_kind(record)}; "
                "expected one JSON object per line"
            )
        records.append(record)
        numbers.append(line_number)
        if len(records) == chunk_rows:
            yield flush()
            yielded = True
            records, numbers = [], []
    if records or not yielded:
        yield flush()
