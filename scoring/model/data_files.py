"""Writers of the synthetic data files shipped in data/, byte for byte stable: the training
Parquet, the office's CSV (Excel in an Indonesian locale), the XLSX and one JSON profile."""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from scoring.contract import fields
from scoring.contract.fields import LABEL, Kind
from scoring.model.population import REFERENCE_YEAR

# Excel in an Indonesian locale: ";" separator, decimal comma, "." thousands, Ya/Tidak.
_MONEY_FIELDS = ("annual_revenue_idr", "export_value_usd_last_year")


def write_training_parquet(frame: pd.DataFrame, path: Path) -> None:
    """The training rows as zstd Parquet, list columns as list<string>."""
    table = pa.Table.from_arrays(
        [_arrow_column(frame[c], c) for c in frame.columns], schema=_arrow_schema(frame.columns)
    )
    pq.write_table(table, path, compression="zstd")


def write_profile_json(row: pd.Series, path: Path) -> None:
    """One profile as an indented JSON contract object."""
    profile = _profile_to_json(row)
    path.write_text(json.dumps(profile, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _profile_to_json(row: pd.Series) -> dict[str, object]:
    """One frame row as a JSON-ready contract object; missing optional values are left out."""
    out: dict[str, object] = {}
    for name, value in row.items():
        if isinstance(value, list):
            out[name] = list(value)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        elif isinstance(value, np.bool_ | bool):
            out[name] = bool(value)
        elif isinstance(value, np.integer):
            out[name] = int(value)
        elif isinstance(value, np.floating | float):
            number = float(value)
            is_int_field = (
                name in fields.FIELD_BY_NAME and fields.FIELD_BY_NAME[name].kind is Kind.INT
            )
            out[name] = int(number) if is_int_field else number
        else:
            out[name] = str(value)
    return out


def _arrow_schema(columns: Sequence[str]) -> pa.Schema:
    kinds = {
        Kind.STRING: pa.string(),
        Kind.ENUM: pa.string(),
        Kind.INT: pa.int64(),
        Kind.FLOAT: pa.float64(),
        Kind.BOOL: pa.bool_(),
        Kind.ENUM_LIST: pa.list_(pa.string()),
    }
    field_of = {**fields.FIELD_BY_NAME, LABEL: fields.LABEL_FIELD}
    return pa.schema([pa.field(c, kinds[field_of[c].kind]) for c in columns])


def _arrow_column(series: pd.Series, name: str) -> pa.Array:
    kind = (fields.LABEL_FIELD if name == LABEL else fields.FIELD_BY_NAME[name]).kind
    arrow_type = _arrow_schema([name]).field(0).type
    if kind is Kind.ENUM_LIST:
        return pa.array(series.tolist(), type=arrow_type)
    return pa.array(series.to_numpy(dtype=object), type=arrow_type, from_pandas=True)


def _office_cell(value: object, name: str) -> str:
    """How Excel (Indonesian locale) writes one cell to CSV."""
    if isinstance(value, list):
        return ", ".join(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "Ya" if value else "Tidak"
    if name in _MONEY_FIELDS:
        return f"{float(value):,.2f}".translate(str.maketrans(",.", ".,"))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number.is_integer():
            return str(int(number))
        return repr(number).replace(".", ",")
    return str(value)


def write_office_csv(frame: pd.DataFrame, path: Path) -> None:
    """The frame as Excel in an Indonesian locale saves it: ";", decimal comma, CRLF, BOM."""
    lines = [";".join(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append(";".join(_office_cell(v, c) for v, c in zip(row, frame.columns, strict=True)))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))


def write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Native numbers and booleans, lists as "A, B"; fixed timestamps, so the bytes are stable."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "profiles"
    sheet.append(list(frame.columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in frame.itertuples(index=False):
        sheet.append([_xlsx_cell(v) for v in row])
    for j, name in enumerate(frame.columns, start=1):
        letter = sheet.cell(row=1, column=j).column_letter
        sheet.column_dimensions[letter].width = max(12, min(40, len(name) + 2))
        if name in _MONEY_FIELDS:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = "#,##0.00"
    sheet.freeze_panes = "A2"
    fixed = pd.Timestamp(f"{REFERENCE_YEAR}-01-01").to_pydatetime()
    workbook.properties.created = fixed
    workbook.properties.modified = fixed
    workbook.properties.creator = "scoring.model.synth"  # part of the shipped bytes

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()  # unlike Workbook.save, keeps our timestamps
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            stable = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            stable.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(stable, source.read(info.filename))


def _xlsx_cell(value: object) -> object:
    if isinstance(value, list):
        return ", ".join(value) if value else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
