"""Where a reader's bytes come from: a path, bytes or a file object, peeked at without
losing the bytes, and made seekable for the formats that keep their directory at the end."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

#: A path (``str`` is always a path, never content), raw bytes, or a binary file object.
Source = str | os.PathLike[str] | bytes | BinaryIO
#: Bytes read ahead to tell the format and find the header of a CSV file.
HEAD_BYTES = 64 * 1024


@contextmanager
def open_source(source: Source, filename: str | None) -> Iterator[tuple[BinaryIO, str]]:
    """A binary stream and the name to use in messages; files we open are closed."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(bytes(source)), filename or "<bytes>"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        with path.open("rb") as handle:
            yield handle, filename or path.name
    else:
        name = getattr(source, "name", None)
        yield source, filename or (Path(name).name if isinstance(name, str) else "<stream>")


def read_up_to(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or fewer at the end of the stream (one ``read`` may return less)."""
    parts, left = [], size
    while left > 0:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def peek(stream: BinaryIO, size: int) -> tuple[bytes, BinaryIO]:
    """The first ``size`` bytes, and a stream that still starts at them."""
    if _seekable(stream):
        start = stream.tell()
        head = read_up_to(stream, size)
        stream.seek(start)
        return head, stream
    head = read_up_to(stream, size)
    return head, io.BufferedReader(_Prefixed(head, stream))


def random_access(stream: BinaryIO) -> BinaryIO:
    """ZIP (XLSX) and Parquet keep their directory at the end: they need to seek."""
    return stream if _seekable(stream) else io.BytesIO(stream.read())


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO):
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
