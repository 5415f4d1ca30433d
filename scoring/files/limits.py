"""What a hostile file may ask of a reader, and the checks that hold it to that before its
bytes are parsed: columns, line and cell length, NUL bytes and invalid UTF-8 in text, and
the unpacked size and compression ratio of XLSX archives and Parquet row groups (zip and
decompression bombs)."""

from __future__ import annotations

import codecs
import io
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow.parquet as pq

from scoring.errors import FileFormatError

#: One mebibyte.
MIB = 1024 * 1024
#: Bytes the CSV checks look at in one go; a line limit below it could not be enforced.
SCAN_BYTES = 256 * 1024
#: Parts smaller than this may compress as well as they like (tiny XML is very regular).
RATIO_FLOOR = MIB
UTF8_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class ReadLimits:
    """What one file may ask of the reader; past any limit it is refused (``FileFormatError``).

    The defaults are far beyond any real profile table (the contract has about 40 columns)
    and keep a hostile file within a few hundred MB and seconds.
    """

    #: Columns of the header (all formats).
    max_columns: int = 1_000
    #: One line of CSV or JSON Lines, and one quoted CSV cell spanning lines; so any cell.
    max_line_bytes: int = 1 * MIB
    #: A JSON array document is parsed whole; larger files should be JSON Lines.
    max_json_bytes: int = 100 * MIB
    #: Uncompressed size of an XLSX archive's parts together, or of one Parquet row group.
    max_unpacked_bytes: int = 512 * MIB
    #: Uncompressed / compressed size of one XLSX part or Parquet row group over 1 MiB.
    max_unpack_ratio: float = 100.0

    def __post_init__(self) -> None:
        if self.max_line_bytes < SCAN_BYTES:
            raise ValueError(f"max_line_bytes must be at least {SCAN_BYTES}")


DEFAULT_LIMITS = ReadLimits()


def size_text(n: float) -> str:
    """Byte count for a message: "1 MiB", "64 KiB", "12 bytes"."""
    for unit, size in (("GiB", 1 << 30), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


class CheckedText(io.RawIOBase):
    """Passes CSV bytes through, refusing what the CSV parser should never be given.

    Invalid UTF-8 and NUL bytes are refused with their byte offset and line; a line, or a
    quoted cell spanning lines, longer than ``max_line`` is refused as soon as it passes
    the limit, so a 100 MB cell or a million-column row never reaches the parser whole.
    Every check is a C-level scan of each block (``find``/``count``), not a loop per byte.
    """

    def __init__(self, raw: BinaryIO, source: str, *, max_line: int):
        self._raw = raw
        self._source = source
        self._max_line = max_line
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0
        self._line = 1
        self._line_start = 0  # byte offset where the current line starts
        self._quote_start: tuple[int, int] | None = None  # (offset, line) of an open quote

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(min(len(buffer), SCAN_BYTES))
        pending = len(self._decoder.getstate()[0])
        try:
            self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            where = self._offset - pending + exc.start
            line = self._line + data.count(b"\n", 0, max(where - self._offset, 0))
            raise utf8_error(self._source, where, line) from exc
        nul = data.find(b"\0")
        if nul >= 0:
            line = self._line + data.count(b"\n", 0, nul)
            raise FileFormatError(
                f"{self._source}: NUL byte at byte offset {self._offset + nul} (line {line}); "
                "a CSV file is text, this looks like a binary file"
            )
        self._check_lengths(data)
        self._offset += len(data)
        self._line += data.count(b"\n")
        buffer[: len(data)] = data
        return len(data)

    def _check_lengths(self, data: bytes) -> None:
        """Lines within one block are shorter than the limit; check those crossing blocks.
        A line ends at "\n" or "\r" (old Mac files end lines with "\r" alone)."""
        end = self._offset + len(data)
        ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
        line_end = self._offset + min(ends) if ends else end
        if line_end - self._line_start > self._max_line:
            raise FileFormatError(
                f"{self._source}: line {self._line} is longer than {size_text(self._max_line)}; "
                "expected a table of profiles (check the line ends and the separator)"
            )
        if ends:
            self._line_start = self._offset + max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        quotes = data.count(b'"')
        if quotes % 2:
            self._quote_start = None if self._quote_start else (0, 0)
        if self._quote_start and quotes:  # the last quote of the block opened the open cell
            last = data.rfind(b'"')
            self._quote_start = (self._offset + last, self._line + data.count(b"\n", 0, last))
        if self._quote_start and end - self._quote_start[0] > self._max_line:
            raise FileFormatError(
                f"{self._source}: the quoted cell opened on line {self._quote_start[1]} is "
                f'longer than {size_text(self._max_line)}; expected quotes in pairs ("...")'
            )


def utf8_error(source: str, offset: int, line: int) -> FileFormatError:
    """The refusal of text that is not UTF-8, at byte ``offset`` on ``line``."""
    return FileFormatError(
        f"{source}: not valid UTF-8 at byte offset {offset} (line {line}); "
        "save the file as UTF-8 (in Excel: 'CSV UTF-8')"
    )


def decode_utf8(data: bytes, source: str, *, final: bool) -> str:
    """Text of ``data`` without its BOM; ``final=False`` allows a cut character at the end."""
    body = data.removeprefix(UTF8_BOM)
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(body, final=final)
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        raise utf8_error(source, offset, data.count(b"\n", 0, offset) + 1) from exc


def check_zip_archive(stream: BinaryIO, source: str, limits: ReadLimits) -> None:
    """Refuse a zip bomb from the archive's directory, before anything is inflated.

    ``zipfile`` never inflates a part beyond the size its directory declares (a lie ends
    in a CRC error), so the declared sizes bound the work.
    """
    start = stream.tell()
    try:
        with zipfile.ZipFile(stream) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise FileFormatError(
            f"{source}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); "
            "expected an Excel .xlsx file"
        ) from exc
    stream.seek(start)
    total = sum(part.file_size for part in parts)
    if total > limits.max_unpacked_bytes:
        raise FileFormatError(
            f"{source}: the workbook unpacks to {size_text(total)}, more than the "
            f"{size_text(limits.max_unpacked_bytes)} allowed; split it or save it as CSV"
        )
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size > RATIO_FLOOR and ratio > limits.max_unpack_ratio:
            raise FileFormatError(
                f"{source}: part {part.filename!r} unpacks {ratio:.0f} times its packed size "
                f"(at most {limits.max_unpack_ratio:.0f}); this looks like a zip bomb, "
                "not a workbook"
            )


def check_parquet_sizes(metadata: pq.FileMetaData, source: str, limits: ReadLimits) -> None:
    """Refuse a decompression bomb from the footer, before any page is read."""
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        unpacked = group.total_byte_size
        if unpacked > limits.max_unpacked_bytes:
            raise FileFormatError(
                f"{source}: row group {index + 1} unpacks to {size_text(unpacked)}, more than the "
                f"{size_text(limits.max_unpacked_bytes)} allowed; write smaller row groups"
            )
        if unpacked > RATIO_FLOOR:
            packed = sum(group.column(i).total_compressed_size for i in range(group.num_columns))
            ratio = unpacked / max(packed, 1)
            if ratio > limits.max_unpack_ratio:
                raise FileFormatError(
                    f"{source}: row group {index + 1} unpacks {ratio:.0f} times its packed "
                    f"size (at most {limits.max_unpack_ratio:.0f}); this looks like a "
                    "decompression bomb, not a table of profiles"
                )
