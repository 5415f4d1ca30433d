"""Parquet files joined into one without decoding them: each file's row groups (their
column chunks, page indexes and Bloom filters) copied byte for byte, and one footer that
lists them all with their offsets moved to where they now lie.

A Parquet file is ``PAR1``, the row groups' bytes, a footer (Thrift's compact encoding of
``FileMetaData``, parquet.thrift), its length and ``PAR1`` again; every position in the
footer counts from the file's first byte. So the joined file is the files' middles one
after another and the first footer with every file's row groups in it, each position
moved by where its file's middle now starts, and the row counts added up. Only the footer
is read, field by field, and every field this module does not move is copied as it was
(statistics, encodings, fields newer than this code): the result is the file pyarrow
writes from the same rows group by group, to the byte. A file whose schema, metadata or
writer differ from the first file's is read, cast to the first file's schema and encoded
again (``ParquetJoin.add``).
"""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Callable
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

MAGIC = b"PAR1"
_TAIL = 8  # the footer's length (4 bytes, little-endian) and MAGIC

# Thrift compact protocol: a field's type, in the low half of its header byte.
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY = range(9)
_LIST, _SET, _MAP, _STRUCT = 9, 10, 11, 12

#: parquet.thrift's field ids this module reads or changes.
_FILE_NUM_ROWS, _FILE_ROW_GROUPS = 3, 4
_GROUP_COLUMNS, _GROUP_FILE_OFFSET, _GROUP_ORDINAL = 1, 5, 7
_CHUNK_FILE_OFFSET, _CHUNK_META_DATA = 2, 3
_CHUNK_OFFSET_INDEX, _CHUNK_COLUMN_INDEX = 4, 6
_CHUNK_CRYPTO, _CHUNK_ENCRYPTED_META_DATA = 8, 9
#: ColumnMetaData's positions in the file: data, index and dictionary pages, Bloom filter.
_META_OFFSETS = (9, 10, 11, 14)


class NotJoinable(ValueError):
    """A Parquet file this module cannot join by copying its bytes (encrypted, or unreadable)."""


class _Reader:
    """Thrift's compact protocol read over bytes, as far as a Parquet footer needs."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    def integer(self) -> int:
        """An i16, i32 or i64 (zigzag varint)."""
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def field(self, last: int) -> tuple[int, int]:
        """The next field's (id, type) after the field numbered ``last``; type 0 ends a struct."""
        header = self.byte()
        kind, delta = header & 0x0F, header >> 4
        if kind == _STOP:
            return 0, _STOP
        return (last + delta if delta else self.integer()), kind

    def collection(self) -> tuple[int, int]:
        """A list's or set's (size, element type)."""
        header = self.byte()
        size = header >> 4
        return (self.varint() if size == 15 else size), header & 0x0F

    def skip(self, kind: int, *, element: bool = False) -> None:
        """Move past a value of type ``kind`` (a bool in a list or map is a byte of its own)."""
        if kind in (_TRUE, _FALSE):
            self.pos += 1 if element else 0
        elif kind == _BYTE:
            self.pos += 1
        elif kind in (_I16, _I32, _I64):
            self.varint()
        elif kind == _DOUBLE:
            self.pos += 8
        elif kind == _BINARY:
            length = self.varint()  # read before ``pos`` is: reading it moves ``pos``
            self.pos += length
        elif kind in (_LIST, _SET):
            size, inner = self.collection()
            for _ in range(size):
                self.skip(inner, element=True)
        elif kind == _MAP:
            size = self.varint()
            inner = self.byte() if size else 0
            for _ in range(size):
                self.skip(inner >> 4, element=True)
                self.skip(inner & 0x0F, element=True)
        elif kind == _STRUCT:
            last = 0
            while True:
                last, kind = self.field(last)
                if kind == _STOP:
                    return
                self.skip(kind)
        else:
            raise NotJoinable(f"not a Parquet footer (Thrift type {kind})")


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _integer(value: int) -> bytes:
    return _varint((value << 1) ^ (value >> 63))


def _collection_header(size: int, kind: int) -> bytes:
    return bytes([(size << 4) | kind]) if size < 15 else bytes([0xF0 | kind]) + _varint(size)


#: How a field's value is written again: reads the old value, returns the new one's bytes.
_Edit = Callable[[_Reader, int], bytes]


def _struct(reader: _Reader, edits: dict[int, _Edit]) -> bytes:
    """The struct at the reader's position with the fields in ``edits`` written again;
    every other byte (field headers, the other fields, the end) copied as it was."""
    data, start, last, parts = reader.data, reader.pos, 0, []
    while True:
        last, kind = reader.field(last)
        if kind == _STOP:
            break
        edit = edits.get(last)
        if edit is None:
            reader.skip(kind)
            continue
        parts.append(data[start : reader.pos])
        parts.append(edit(reader, kind))
        start = reader.pos
    parts.append(data[start : reader.pos])
    return b"".join(parts)


def _moved(shift: int, *, zero_unset: bool = False) -> _Edit:
    def edit(reader: _Reader, kind: int) -> bytes:
        if kind != _I64:
            raise NotJoinable(f"not a Parquet footer (an offset of Thrift type {kind})")
        value = reader.integer()
        return _integer(value if zero_unset and value == 0 else value + shift)

    return edit


def _refused(reader: _Reader, kind: int) -> bytes:
    raise NotJoinable("an encrypted column's positions cannot be moved")


def _list_of_structs(edits: dict[int, _Edit]) -> _Edit:
    def edit(reader: _Reader, kind: int) -> bytes:
        size, inner = reader.collection()
        if kind != _LIST or inner != _STRUCT:
            raise NotJoinable("not a Parquet footer (a list of structs expected)")
        return _collection_header(size, inner) + b"".join(
            _struct(reader, edits) for _ in range(size)
        )

    return edit


def _row_group_edits(shift: int, ordinal: int) -> dict[int, _Edit]:
    """What changes in a row group moved by ``shift`` bytes to be the ``ordinal``-th."""
    offset = _moved(shift)
    meta = dict.fromkeys(_META_OFFSETS, offset)
    chunk = {
        # The deprecated first offset of a column chunk: 0 means the writer left it unset.
        _CHUNK_FILE_OFFSET: _moved(shift, zero_unset=True),
        _CHUNK_META_DATA: lambda reader, kind: _struct(reader, meta),
        _CHUNK_OFFSET_INDEX: offset,
        _CHUNK_COLUMN_INDEX: offset,
        _CHUNK_CRYPTO: _refused,
        _CHUNK_ENCRYPTED_META_DATA: _refused,
    }
    return {
        _GROUP_COLUMNS: _list_of_structs(chunk),
        _GROUP_FILE_OFFSET: offset,
        _GROUP_ORDINAL: _replaced(_integer(ordinal)),
    }


def _replaced(value: bytes) -> _Edit:
    def edit(reader: _Reader, kind: int) -> bytes:
        reader.skip(kind)
        return value

    return edit


class _Footer:
    """A file's footer as its fields' bytes, its row count, and its row groups (each a
    RowGroup struct's bytes, ready to be moved)."""

    def __init__(self, data: bytes):
        if len(data) < 2 * len(MAGIC) + 4 or data[:4] != MAGIC or data[-4:] != MAGIC:
            raise NotJoinable("not a Parquet file (no PAR1 at its start and end)")
        (length,) = struct.unpack("<i", data[-_TAIL:-4])
        self.start = len(data) - _TAIL - length  # where the footer begins: the middle ends
        if not len(MAGIC) <= self.start < len(data) - _TAIL:
            raise NotJoinable("not a Parquet file (its footer's length is out of range)")
        reader = _Reader(data[self.start : len(data) - _TAIL])
        #: (field id, the header's bytes, the value's bytes), in order
        self.fields: list[tuple[int, bytes, bytes]] = []
        self.num_rows, self.groups = 0, 0
        self._groups_at = 0  # where the row groups' list starts in the footer
        last = 0
        try:
            while True:
                header = reader.pos
                last, kind = reader.field(last)
                if kind == _STOP:
                    break
                value = reader.pos
                if last == _FILE_NUM_ROWS:
                    self.num_rows = reader.integer()
                elif last == _FILE_ROW_GROUPS:
                    self._groups_at = value
                    self.groups, _ = reader.collection()
                    for _ in range(self.groups):
                        reader.skip(_STRUCT)
                else:
                    reader.skip(kind)
                data = reader.data
                self.fields.append((last, data[header:value], data[value : reader.pos]))
        except IndexError as exc:
            raise NotJoinable("not a Parquet file (its footer ends too soon)") from exc
        self._reader = reader

    def same_kind(self, other: _Footer) -> bool:
        """Whether the two files differ in their rows only (schema, metadata, writer alike)."""
        return [f for f in self.fields if f[0] not in (_FILE_NUM_ROWS, _FILE_ROW_GROUPS)] == [
            f for f in other.fields if f[0] not in (_FILE_NUM_ROWS, _FILE_ROW_GROUPS)
        ]

    def row_groups(self, shift: int, first_ordinal: int) -> list[bytes]:
        """The row groups' structs with every position moved by ``shift`` bytes."""
        reader = self._reader
        reader.pos = self._groups_at
        reader.collection()
        return [
            _struct(reader, _row_group_edits(shift, first_ordinal + index))
            for index in range(self.groups)
        ]

    def encode(self, num_rows: int, row_groups: list[bytes]) -> bytes:
        """This footer with ``num_rows`` and ``row_groups`` in place of its own."""
        parts = []
        for field_id, header, value in self.fields:
            if field_id == _FILE_NUM_ROWS:
                value = _integer(num_rows)
            elif field_id == _FILE_ROW_GROUPS:
                value = _collection_header(len(row_groups), _STRUCT) + b"".join(row_groups)
            parts += (header, value)
        parts.append(bytes([_STOP]))
        return b"".join(parts)


def _writers_schema(data: bytes) -> tuple[pa.Schema, bool]:
    """The Arrow schema the file's writer was given, as stored in the file (the schema read
    back names a list's items differently), and whether it was stored."""
    source = pq.ParquetFile(pa.BufferReader(data))
    stored = (source.metadata.metadata or {}).get(b"ARROW:schema")
    if stored is None:
        return source.schema_arrow, False
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(stored))), True


class ParquetJoin:
    """Parquet files written into ``handle`` one after another as one file (``add`` each,
    then ``close``); the first file sets the schema. ``handle`` is left open."""

    def __init__(self, handle: BinaryIO):
        self._handle = handle
        self._first: _Footer | None = None
        self._schema: pa.Schema | None = None
        self._store_schema = True
        self._groups: list[bytes] = []
        self._rows = 0
        self._position = 0
        self.files = 0

    def add(self, data: bytes) -> None:
        """Append the row groups of the Parquet file ``data``."""
        footer = _Footer(data)
        if self._first is None:
            self._first = footer
            self._schema, self._store_schema = _writers_schema(data)
            self._write(MAGIC)
        elif not footer.same_kind(self._first):
            data = self._encoded_again(data)
            footer = _Footer(data)
            if not footer.same_kind(self._first):
                raise NotJoinable("a file encoded again with the first file's schema differs")
        shift = self._position - len(MAGIC)
        self._groups += footer.row_groups(shift, len(self._groups))
        self._rows += footer.num_rows
        self._write(memoryview(data)[len(MAGIC) : footer.start])
        self.files += 1

    def _encoded_again(self, data: bytes) -> bytes:
        """``data``'s row groups cast to the first file's schema and encoded again."""
        buffer = io.BytesIO()
        try:
            source = pq.ParquetFile(pa.BufferReader(data))
            with pq.ParquetWriter(buffer, self._schema, store_schema=self._store_schema) as out:
                for group in range(source.num_row_groups):
                    table = source.read_row_group(group, use_threads=False)
                    out.write_table(table.cast(self._schema))
        except (pa.ArrowException, ValueError) as exc:  # unreadable, or columns that do not cast
            raise NotJoinable(f"its columns cannot be read as the first file's ({exc})") from exc
        return buffer.getvalue()

    def close(self) -> None:
        """Write the one footer; nothing is written if no file was added."""
        if self._first is None:
            return
        footer = self._first.encode(self._rows, self._groups)
        self._write(footer + struct.pack("<i", len(footer)) + MAGIC)
        self._first = None

    def _write(self, data: bytes | memoryview) -> None:
        self._handle.write(data)
        self._position += len(data)
