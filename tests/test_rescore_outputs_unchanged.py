"""Rescoring writes exactly the bytes it wrote before the batch path was reorganised.

Clean and messy files (Parquet, CSV, an office's CSV with ';' and decimal commas, JSON
Lines) of 20,000 generated rows are rescored into CSV and Parquet with a fixed
``scored_at``; the SHA-256 of every output and rejected-rows file must equal the digest
recorded from the code before validation moved into the pool processes and onto Arrow
arrays. The messy files hold every kind of rejected row the validator reports (missing
and malformed values, unknown choices, repeated list values, ids repeated in a later
chunk) and the office spellings it accepts ("Rp 2.400.000", "80%", "ya", "-").

To record new digests after a change that is meant to change the output, run
``python tests/test_rescore_outputs_unchanged.py`` and paste what it prints.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scoring.batch import rescore as rescore_module
from scoring.batch.rescore import rescore
from scoring.contract import fields
from scoring.files.writers import write_table
from scoring.model import synth

ROWS = 20_000
SEED = 20261203
FIXED_TIME = "2026-12-03T12:00:00Z"
YEAR = 2026  # the upper bound of year_established in range messages
CHUNK_ROWS = 2_500

#: (input, output format) -> (digest of the output, digest of the rejected rows or None)
EXPECTED = {
    ("clean.parquet", "parquet"): (
        "d2fd5fdcdbd0fa63f4ddc2fadf33d626e6170d972426ea515fb5f6f674f294c3",
        None,
    ),
    ("clean.parquet", "csv"): (
        "3afa725250414b9d364581c78dc2ceaf82ab715e541d250908f06553a1c28e7f",
        None,
    ),
    ("messy.parquet", "parquet"): (
        "10095fb6cdb139dbc625ab199dc17c626b71eeb4edd2d167b9e5fed95585f8cb",
        "5790c05464942a39935c6670fdd4dde41f48422a1813764e9ed1e709d081d6ea",
    ),
    ("messy.parquet", "csv"): (
        "3ef29b20c73c104ca7797b5e44d624a78ecc3bc885da6d6ec391f00a255048e4",
        "5790c05464942a39935c6670fdd4dde41f48422a1813764e9ed1e709d081d6ea",
    ),
    ("messy.jsonl", "parquet"): (
        "10095fb6cdb139dbc625ab199dc17c626b71eeb4edd2d167b9e5fed95585f8cb",
        "5790c05464942a39935c6670fdd4dde41f48422a1813764e9ed1e709d081d6ea",
    ),
    ("messy.csv", "csv"): (
        "d1db5affa2849c321e245f94b11ab755f6af5b85b53be199b797010a1e3658a6",
        "4f6ae7c3dba295a99e6dfb10b36041ab42bf63960e82dedefabd7a569c49a192",
    ),
    ("messy.csv", "parquet"): (
        "a4548c2ccbd9526ae42cff1a8fa41aa6feb9984c2084e545dd69dce9e94f3d08",
        "4f6ae7c3dba295a99e6dfb10b36041ab42bf63960e82dedefabd7a569c49a192",
    ),
    ("office.csv", "csv"): (
        "591577f2190e0d86dd2a72b8785a39f18561e6769d6a87acb365bfc2dbcb34c3",
        "d27a6e7bcbb8ab404de6e7820d52cebe65ea5ee39e81360df51c32ed1c5116ef",
    ),
    ("office.csv", "parquet"): (
        "fdec13a78fac5a15e5cd72c9b1ed3ef15413c6b9d5a78b79d3990c17ebefc440",
        "d27a6e7bcbb8ab404de6e7820d52cebe65ea5ee39e81360df51c32ed1c5116ef",
    ),
}
#: Parquet bytes name the library that wrote them: compared byte for byte only with this one.
PYARROW = "26.0.1"


def profiles() -> pd.DataFrame:
    return synth.generate_profiles(ROWS, seed=SEED).drop(columns=[synth.LABEL])


def messy_typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed values (as Parquet and JSON hold them) with rows the contract rejects or reads
    by assumption, spread over several chunks."""
    frame = frame.astype({c: object for c in frame.columns if frame[c].dtype != object}).copy()
    bad = {
        4: {"employees": -3},
        10: {"sector": "space", "year_established": 1800},
        11: {"sme_id": None},
        2_600: {"sme_id": "SYN-0000005"},  # repeats row 5's id in a later chunk
        3_001: {"certifications": ["SNI", "SNI"]},
        3_002: {"certifications": ["SNI", "XYZ"], "target_markets": ["MARS"]},
        4_000: {"has_exported": False, "export_years": 3},
        5_000: {"name": "x" * 201},
        6_000: {"hs_code": "12"},
        7_000: {"capacity_utilization": 1.5},
        8_000: {"annual_revenue_idr": None},
        9_000: {"employees": 2.5},
        10_000: {"legal_form": "Perseroan Terbatas"},
        11_000: {"sme_id": "bad id!"},
        12_000: {"owner_gender": "robot"},
        19_999: {"has_npwp": None},
    }
    for row, values in bad.items():
        for name, value in values.items():
            frame.at[row, name] = value
    for row in range(13_000, 13_050):  # optional booleans left out: read as assumed false
        frame.at[row, "has_website"] = None
        frame.at[row, "monthly_capacity_units"] = None
    for row in (14_000, 14_001):  # text around values, in any case
        frame.at[row, "sector"] = "  Apparel "
        frame.at[row, "legal_form"] = "PT"
    return frame


def messy_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text, the way an office writes it, with the text-only spellings."""
    text = messy_typed(frame)
    for name in ("certifications", "export_markets", "target_markets"):
        text[name] = text[name].map(lambda v: ", ".join(v) if isinstance(v, list) else v)
    for name in text.columns:
        cells = [_as_text(v) for v in text[name]]
        text[name] = pd.Series(cells, dtype=object, index=text.index)
    spellings = {
        15_000: {"annual_revenue_idr": "Rp 2.400.000.000", "capacity_utilization": "80%"},
        15_001: {"employees": "1.500", "hs_code": "0901.21", "has_nib": "Ya"},
        15_002: {"certifications": "SNI;;HALAL", "district": None, "hs_code": "-"},
        15_003: {"employees": "12,5"},
        15_004: {"year_established": "tahun lalu", "has_npwp": "mungkin"},
        15_005: {"export_value_usd_last_year": "1.234,56", "monthly_capacity_units": " - "},
        15_006: {"target_markets": "EU, EU"},
        15_007: {"capacity_utilization": "0,8"},
    }
    for row, values in spellings.items():
        for name, value in values.items():
            if name in text:
                text.at[row, name] = value
    return text


def _as_text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | np.bool_):
        return "ya" if value else "tidak"
    return str(value)


def office_csv(frame: pd.DataFrame, path: Path) -> Path:
    """';' between cells, decimal commas, a byte-order mark and a blank line."""
    text = frame.map(lambda v: v.replace(".", ",") if _decimal(v) else v)
    lines = text.to_csv(sep=";", index=False, lineterminator="\n").split("\n")
    lines.insert(1_000, "")
    path.write_text("\ufeff" + "\n".join(lines), encoding="utf-8")
    return path


def _decimal(value) -> bool:
    if not isinstance(value, str) or value.count(".") != 1:
        return False
    whole, fraction = value.split(".")
    return whole.lstrip("-").isdigit() and fraction.isdigit() and len(fraction) != 3


def write_inputs(folder: Path) -> dict[str, Path]:
    clean, typed = profiles(), messy_typed(profiles())
    paths = {
        "clean.parquet": folder / "clean.parquet",
        "messy.parquet": folder / "messy.parquet",
        "messy.jsonl": folder / "messy.jsonl",
        "messy.csv": folder / "messy.csv",
        "office.csv": folder / "office.csv",
    }
    clean.to_parquet(paths["clean.parquet"], index=False, row_group_size=4_000)
    table = pa.Table.from_pandas(typed.astype({"employees": object}), preserve_index=False)
    pa.parquet.write_table(table, paths["messy.parquet"], row_group_size=4_000)
    write_table(typed, paths["messy.jsonl"], format="jsonl")
    write_table(messy_text(clean), paths["messy.csv"], format="csv")
    office_csv(messy_text(clean), paths["office.csv"])
    return paths


CASES = [
    ("clean.parquet", "parquet"),
    ("clean.parquet", "csv"),
    ("messy.parquet", "parquet"),
    ("messy.parquet", "csv"),
    ("messy.jsonl", "parquet"),
    ("messy.csv", "csv"),
    ("messy.csv", "parquet"),
    ("office.csv", "csv"),
    ("office.csv", "parquet"),
]


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def run_case(scorer, source: Path, out: Path, **options) -> tuple[str, str | None]:
    rescore(source, out, scorer=scorer, chunk_rows=CHUNK_ROWS, scored_at=FIXED_TIME, **options)
    return digest(out), digest(out.with_name(out.stem + ".rejected.csv"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("unchanged"))


@pytest.fixture
def this_year(monkeypatch):
    monkeypatch.setattr(fields, "current_year", lambda: YEAR)


@pytest.mark.parametrize(("name", "out_format"), CASES)
def test_rescore_writes_the_recorded_bytes(scorer, inputs, this_year, tmp_path, name, out_format):
    out, rejected = run_case(scorer, inputs[name], tmp_path / f"out.{out_format}", workers=1)
    expected_out, expected_rejected = EXPECTED[name, out_format]
    if out_format != "parquet" or pa.__version__ == PYARROW:
        assert out == expected_out
    assert rejected == expected_rejected


@pytest.mark.parametrize("name", ["messy.parquet", "office.csv"])
def test_a_pool_process_writes_the_bytes_of_one_process(
    scorer, inputs, tmp_path, monkeypatch, name
):
    monkeypatch.setattr(rescore_module, "POOL_MIN_ROWS", 0)  # a pool even for a small file
    one = run_case(scorer, inputs[name], tmp_path / "one.parquet", workers=1)
    two = run_case(scorer, inputs[name], tmp_path / "two.parquet", workers=2)
    assert one == two


def test_the_messy_files_reject_what_they_should(scorer, inputs, this_year, tmp_path):
    out = tmp_path / "out.csv"
    summary = rescore(inputs["office.csv"], out, scorer=scorer, workers=1, chunk_rows=CHUNK_ROWS)
    assert summary.received == ROWS
    assert summary.rejected == 20
    assert np.all(pd.read_csv(out)["row"].diff().dropna() > 0)


def record() -> None:
    """Print ``EXPECTED`` for the code as it is."""
    import tempfile

    from scoring.engine import Scorer

    fields.current_year = lambda: YEAR
    scorer = Scorer.load()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_inputs(Path(tmp))
        print(f"PYARROW = {pa.__version__!r}")
        print("EXPECTED = {")
        for name, out_format in CASES:
            result = run_case(scorer, paths[name], Path(tmp) / f"out.{out_format}", workers=1)
            print(f"    ({name!r}, {out_format!r}): {result!r},")
        print("}")


if __name__ == "__main__":
    sys.exit(record())
