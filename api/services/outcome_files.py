"""Follow-ups in bulk: an outcome file (CSV, XLSX, Parquet, JSON) read and checked row by
row like a profile batch, stored, and the template offices fill in.

The file's rows are read with the profile readers (header found below titles, headers
in Indonesian or as the follow-up form names them, merged header cells, blank rows, totals,
notes and signature rows skipped and reported, Indonesian numbers, ``Ya``/``Tidak``,
values by their names in either language); every problem of every row is reported at once
with the file's own row number and, in a spreadsheet, the cell's column letter.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
from openpyxl import Workbook
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy.orm import Session

from api import store
from api.services.ingest import TooManyRows
from scoring.contract.cells import is_missing
from scoring.contract.outcomes import (
    OUTCOME_COLUMNS,
    REQUIRED_OUTCOME_COLUMNS,
    outcome_labels,
    read_outcome,
)
from scoring.contract.sheets import non_data_rows
from scoring.errors import FileFormatError
from scoring.files.notices import Notice, merge_notices
from scoring.files.readers import iter_tables

#: The column of an outcome row error about an SME the service does not know.
UNKNOWN_SME = "Unknown SME: score it (or upload its profile) before recording follow-ups."
UNKNOWN_COLUMNS = "{source}: unknown column(s) {names}; the columns of a follow-up file are {known}"
MISSING_COLUMNS = "{source}: missing required column(s) {names}"


@dataclass
class OutcomeRows:
    """What an outcome file held: valid follow-ups (each with its ``row``), rejected rows
    (``{row, sme_id, errors}``), skipped non-data rows (``{row, reason}``) and what the
    reader assumed (``Notice.to_dict()``: header, columns read by another name, blank rows)."""

    records: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    notices: list[dict] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.records) + len(self.errors)


def read_outcome_file(
    stream: BinaryIO, *, filename: str | None, today: dt.date, max_rows: int
) -> OutcomeRows:
    """Every row of an outcome file, checked. Raises ``FileFormatError`` for a file that is
    not a follow-up table and ``TooManyRows`` past ``max_rows`` rows."""
    result = OutcomeRows()
    rows = 0
    notices: list[Notice] = []
    for raw in iter_tables(stream, filename=filename, chunk_rows=min(max_rows + 1, 50_000)):
        _check_columns(list(raw.frame.columns), raw.source)
        notices += raw.notices
        frame, numbers = raw.frame, raw.source_rows().astype(np.int64)
        if raw.columns is not None:
            skip, skipped = non_data_rows(frame, numbers)
            result.skipped += [s.to_dict() for s in skipped]
            frame, numbers = frame[~skip].reset_index(drop=True), numbers[~skip]
        rows += len(frame)
        if rows > max_rows:
            raise TooManyRows(max_rows)
        for position, row in enumerate(frame.to_dict("records")):
            number = int(numbers[position])
            record, errors = read_outcome(row, today=today, decimal=raw.decimal)
            if errors:
                sme_id = record["sme_id"]
                result.errors.append(
                    {"row": number, "sme_id": sme_id, "errors": _located(errors, row, raw.columns)}
                )
            else:
                result.records.append({**record, "row": number})
    result.notices = [notice.to_dict() for notice in merge_notices(notices)]
    return result


def _check_columns(columns: list[str], source: str) -> None:
    unknown = [c for c in columns if c not in OUTCOME_COLUMNS]
    if unknown:
        raise FileFormatError(
            UNKNOWN_COLUMNS.format(
                source=source, names=", ".join(unknown), known=", ".join(OUTCOME_COLUMNS)
            ),
            code="unknown_columns",
            columns=", ".join(unknown),
        )
    missing = [c for c in REQUIRED_OUTCOME_COLUMNS if c not in columns]
    if missing:
        raise FileFormatError(MISSING_COLUMNS.format(source=source, names=", ".join(missing)))


def _located(errors: list[dict], row: dict, letters: dict[str, str] | None) -> list[dict]:
    """Each error with its cell's column letter and the value as read (a note is free text
    and may name people: never quoted)."""
    if letters is None:
        return errors
    for item in errors:
        name = item["field"]
        if name in letters:
            item["column"] = letters[name]
        value = row.get(name)
        if name != "note" and not is_missing(value):
            item["value"] = str(value).strip()
    return errors


def import_outcomes(
    session: Session,
    stream: BinaryIO,
    *,
    filename: str | None,
    actor: str,
    today: dt.date,
    max_rows: int,
) -> dict:
    """Read an outcome file and store its valid follow-ups; a row about an unknown SME is
    rejected like any invalid row. The caller commits.

    Returns ``received``, ``stored``, ``already_recorded`` (identical follow-ups stored
    before, not stored twice), ``rejected``, ``errors``, ``skipped`` and ``notices``.
    """
    rows = read_outcome_file(stream, filename=filename, today=today, max_rows=max_rows)
    known = store.known_smes(session, (r["sme_id"] for r in rows.records))
    errors = list(rows.errors)
    valid = []
    for record in rows.records:
        if record["sme_id"] in known:
            valid.append(record)
        else:
            errors.append(
                {
                    "row": record["row"],
                    "sme_id": record["sme_id"],
                    "errors": [{"field": "sme_id", "message": UNKNOWN_SME}],
                }
            )
    errors.sort(key=lambda e: e["row"])
    stored, repeated = store.record_followups(
        session,
        [{k: v for k, v in r.items() if k != "row"} for r in valid],
        actor=actor,
        source=f"file:{filename}" if filename else "file",
    )
    return {
        "received": rows.received,
        "stored": len(stored),
        "already_recorded": repeated,
        "rejected": len(errors),
        "errors": errors,
        "skipped": rows.skipped,
        "notices": rows.notices,
        "followup_ids": [f["id"] for f in stored],
    }


# --- the template -----------------------------------------------------------------------------

TEMPLATE_FORMATS = ("csv", "xlsx")
_HELP = {
    "en": {
        "sheet": "instructions",
        "title": "Export follow-ups: one row per follow-up of one SME",
        "column": "column",
        "meaning": "meaning",
        "values": "accepted values",
        "required": "required",
        "optional": "optional",
        "columns": {
            "sme_id": ("The SME's id, as in its profile.", "text"),
            "followup_date": (
                "When the office followed the SME up.",
                "date: 2026-03-14, 14/03/2026 or 14 March 2026",
            ),
            "exported": ("Had the SME exported since the support decision?", "Yes / No"),
            "learned_via": ("How the office learned it.", None),
            "first_export_date": ("Date of its first export shipment.", "date; only if exported"),
            "destination_markets": ("Where it exported to.", None),
            "export_value_usd": ("Export value so far, in US dollars.", "number; only if exported"),
            "contracts": ("Number of export contracts or buyers.", "whole number"),
            "note": (
                "Anything else worth knowing. Do not write buyers' contact details.",
                "text, at most 1000 characters",
            ),
        },
    },
    "id": {
        "sheet": "petunjuk",
        "title": "Tindak lanjut ekspor: satu baris untuk satu tindak lanjut satu UKM",
        "column": "kolom",
        "meaning": "arti",
        "values": "nilai yang diterima",
        "required": "wajib",
        "optional": "tidak wajib",
        "columns": {
            "sme_id": ("ID UKM, seperti pada profilnya.", "teks"),
            "followup_date": (
                "Tanggal dinas menindaklanjuti UKM.",
                "tanggal: 2026-03-14, 14/03/2026 atau 14 Maret 2026",
            ),
            "exported": ("Sudahkah UKM mengekspor sejak keputusan dukungan?", "Ya / Tidak"),
            "learned_via": ("Dari mana dinas mengetahuinya.", None),
            "first_export_date": (
                "Tanggal pengiriman ekspor pertamanya.",
                "tanggal; hanya jika sudah ekspor",
            ),
            "destination_markets": ("Negara atau kawasan tujuan ekspor.", None),
            "export_value_usd": (
                "Nilai ekspor sejauh ini, dalam dolar AS.",
                "angka; hanya jika sudah ekspor",
            ),
            "contracts": ("Jumlah kontrak atau pembeli ekspor.", "bilangan bulat"),
            "note": (
                "Catatan lain. Jangan menulis kontak pembeli.",
                "teks, paling banyak 1000 karakter",
            ),
        },
    },
}
_MARKET_NAMES = {
    "en": "EU, US, JP, CN, GCC, ASEAN, AU, OTHER (or their names)",
    "id": "EU, US, JP, CN, GCC, ASEAN, AU, OTHER (atau namanya)",
}


def template_rows(lang: str) -> list[tuple[str, str, str, str]]:
    """``(column, required or optional, meaning, accepted values)`` in ``lang``."""
    texts = _HELP[lang]
    learned = " / ".join(outcome_labels(lang)["learned_via"].values())
    out = []
    for name in OUTCOME_COLUMNS:
        meaning, values = texts["columns"][name]
        if name == "learned_via":
            values = learned
        elif name == "destination_markets":
            values = _MARKET_NAMES[lang]
        need = texts["required"] if name in REQUIRED_OUTCOME_COLUMNS else texts["optional"]
        out.append((name, need, meaning, values))
    return out


def outcome_template(*, lang: str, format: str) -> bytes:
    """The file offices fill in: the header row (the columns as the contract names them);
    the XLSX has drop-downs for ``exported`` and ``learned_via`` in ``lang`` and a second
    sheet explaining every column in ``lang``."""
    if format not in TEMPLATE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(TEMPLATE_FORMATS)}")
    if format == "csv":
        return ("\ufeff" + ";".join(OUTCOME_COLUMNS) + "\r\n").encode("utf-8")
    return _xlsx_template(lang)


def _xlsx_template(lang: str) -> bytes:
    texts = _HELP[lang]
    book = Workbook()
    sheet = book.active
    sheet.title = "followups"
    sheet.append(list(OUTCOME_COLUMNS))
    yes_no = '"Ya,Tidak"' if lang == "id" else '"Yes,No"'
    learned = '"' + ",".join(outcome_labels(lang)["learned_via"].values()) + '"'
    for column, values in (("C", yes_no), ("D", learned)):
        check = DataValidation(type="list", formula1=values, allow_blank=True)
        check.add(f"{column}2:{column}5000")
        sheet.add_data_validation(check)
    for column, width in zip("ABCDEFGHI", (14, 16, 10, 22, 16, 18, 16, 10, 40), strict=True):
        sheet.column_dimensions[column].width = width
    for column in ("B", "E"):
        for cells in sheet[f"{column}2:{column}5000"]:
            for cell in cells:
                cell.number_format = "yyyy-mm-dd"
    guide = book.create_sheet(texts["sheet"])
    guide.append([texts["title"]])
    guide.append([])
    guide.append([texts["column"], "", texts["meaning"], texts["values"]])
    for row in template_rows(lang):
        guide.append(list(row))
    for column, width in zip("ABCD", (20, 12, 60, 50), strict=True):
        guide.column_dimensions[column].width = width
    book.properties.creator = "sme-export"
    fixed = dt.datetime(2026, 1, 1)
    book.properties.created = book.properties.modified = fixed
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def error_lines(errors: list[dict[str, Any]]) -> list[str]:
    """One line per rejected row: ``row 7 (BDG-001): followup_date [B]: message; ...``."""
    lines = []
    for error in errors:
        who = f" ({error['sme_id']})" if error.get("sme_id") else ""
        parts = []
        for item in error["errors"]:
            cell = f" [{item['column']}]" if item.get("column") else ""
            parts.append(f"{item['field']}{cell}: {item['message']}")
        lines.append(f"row {error['row']}{who}: " + "; ".join(parts))
    return lines
