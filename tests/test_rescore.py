"""Rescoring large files: streamed results equal whole-file scoring, chunking changes nothing,
rejected rows are exact, a killed run resumes without duplicates, Dask gives the same rows."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from api.cli import main
from api.cli.common import EXIT_INPUT, EXIT_REJECTED_ROWS
from scoring.batch import rescore as rescore_module
from scoring.batch.checkpoint import OutputPaths
from scoring.batch.rescore import rescore
from scoring.batch.results import encode
from scoring.contract.fields import FIELD_BY_NAME
from scoring.contract.messages import range_message
from scoring.contract.validate import validate_table
from scoring.errors import RescoreError
from scoring.files.readers import read_table
from scoring.files.writers import write_table
from scoring.model import synth

FIXED_TIME = "2026-11-28T10:00:00Z"
ROOT = Path(__file__).resolve().parent.parent


def contract_profiles(n: int, *, seed: int) -> pd.DataFrame:
    """Contract-format rows (lists as Python lists), without the training label."""
    return synth.generate_profiles(n, seed=seed).drop(columns=[synth.LABEL])


def with_bad_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Three broken rows at positions 4, 10 and 11 (0-based)."""
    frame = frame.astype({"sector": object, "sme_id": object}).copy()
    frame.loc[4, "employees"] = -3
    frame.loc[10, "sector"] = "space"
    frame.loc[10, "year_established"] = 1800
    frame.loc[11, "sme_id"] = None
    return frame


def write_input(frame: pd.DataFrame, path: Path, *, row_group_size: int = 1000) -> Path:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False, row_group_size=row_group_size)
    else:
        write_table(frame, path, format=path.suffix.lstrip("."))
    return path


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_parquet(path)


def in_memory_results(scorer, path: Path) -> tuple[pd.DataFrame, list]:
    """The whole file read, validated and scored at once, with the source row numbers."""
    batch = validate_table(read_table(path))
    flat = scorer.score(batch.profiles, assumed=batch.assumed, scored_at=FIXED_TIME).to_frame()
    flat.insert(0, "row", batch.row_numbers)
    return flat, batch.errors


@pytest.fixture(scope="module")
def profiles() -> pd.DataFrame:
    return contract_profiles(1200, seed=11)


@pytest.fixture(scope="module")
def mixed_parquet(tmp_path_factory, profiles) -> Path:
    path = tmp_path_factory.mktemp("mixed") / "mixed.parquet"
    return write_input(with_bad_rows(profiles), path, row_group_size=250)


@pytest.fixture
def streamed(scorer):
    """``rescore`` with the session's scorer, in this process unless told otherwise."""

    def call(source, out, **options):
        return rescore(source, out, scorer=scorer, **{"workers": 1, **options})

    return call


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


# --- streaming equals whole-file scoring ------------------------------------------------------


@pytest.mark.parametrize("out_format", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("in_format", ["csv", "jsonl", "parquet"])
def test_streamed_results_equal_scoring_the_whole_file_in_memory(
    streamed, scorer, profiles, tmp_path, in_format, out_format
):
    source = write_input(with_bad_rows(profiles), tmp_path / f"in.{in_format}")
    out = tmp_path / f"out.{out_format}"
    summary = streamed(source, out, chunk_rows=97, scored_at=FIXED_TIME)
    expected, errors = in_memory_results(scorer, source)
    assert (summary.received, summary.scored, summary.rejected) == (1200, 1197, 3)
    if out_format == "parquet":
        pd.testing.assert_frame_equal(read_output(out), read_output_of(expected, tmp_path))
    else:
        assert out.read_bytes() == encode(expected, out_format)
    assert summary.chunks == 13
    assert [e.row for e in errors] == pd.read_csv(tmp_path / "out.rejected.csv")["row"].tolist()


def read_output_of(frame: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "expected.parquet"
    path.write_bytes(encode(frame, "parquet"))
    return pd.read_parquet(path)


def test_chunk_boundaries_change_no_score(streamed, profiles, tmp_path):
    source = write_input(with_bad_rows(profiles.head(45)), tmp_path / "in.parquet")
    outputs = {}
    for chunk_rows in (1, 7, 1000):
        out = tmp_path / f"out{chunk_rows}.csv"
        streamed(source, out, chunk_rows=chunk_rows, scored_at=FIXED_TIME)
        outputs[chunk_rows] = (
            out.read_bytes(),
            (tmp_path / f"out{chunk_rows}.rejected.csv").read_bytes(),
        )
    assert outputs[1] == outputs[7] == outputs[1000]
    assert len(pd.read_csv(tmp_path / "out7.csv")) == 42


@pytest.mark.parametrize("workers", [2, 3])
def test_worker_processes_write_what_one_process_writes(
    streamed, mixed_parquet, tmp_path, monkeypatch, workers
):
    monkeypatch.setattr(rescore_module, "POOL_MIN_ROWS", 0)  # a pool even for a small file
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    streamed(mixed_parquet, one, chunk_rows=100, scored_at=FIXED_TIME)
    # Only processes started by this run count: other tests may leave children of their own.
    before = {p.pid for p in multiprocessing.active_children()}
    children = []
    summary = streamed(
        mixed_parquet,
        two,
        chunk_rows=100,
        workers=workers,
        scored_at=FIXED_TIME,
        on_chunk=lambda _: children.append(
            len({p.pid for p in multiprocessing.active_children()} - before)
        ),
    )
    # This process scores too (it is one of the workers); pool processes start as work waits.
    assert 1 <= max(children) <= workers - 1
    assert summary.chunks == 12
    pd.testing.assert_frame_equal(pd.read_parquet(one), pd.read_parquet(two))
    assert pq_row_groups(two) == 12  # one row group per chunk


def test_small_files_are_scored_without_starting_processes(streamed, mixed_parquet, tmp_path):
    before = {p.pid for p in multiprocessing.active_children()}
    children = []
    streamed(
        mixed_parquet,
        tmp_path / "out.csv",
        chunk_rows=100,
        workers=2,
        on_chunk=lambda _: children.append(
            len({p.pid for p in multiprocessing.active_children()} - before)
        ),
    )
    assert set(children) == {0}


def pq_row_groups(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).num_row_groups


# --- rejected rows ----------------------------------------------------------------------------


def test_mixed_file_reports_each_rejected_row_exactly(run, profiles, tmp_path):
    source = write_input(with_bad_rows(profiles.head(40)), tmp_path / "cohort.csv")
    out = tmp_path / "scores.csv"
    result = run("rescore", source, "--out", out, "--chunk-rows", "8", "--workers", "1")
    assert result.exit_code == EXIT_REJECTED_ROWS
    assert "received 40, scored 37, rejected 3" in result.stderr
    rejected = pd.read_csv(tmp_path / "scores.rejected.csv", keep_default_na=False)
    # CSV rows count the header as row 1: positions 4, 10, 11 are rows 6, 12, 13.
    assert rejected["row"].tolist() == [6, 12, 13]
    assert rejected["sme_id"].tolist() == ["SYN-0000005", "SYN-0000011", ""]
    year_range = range_message(FIELD_BY_NAME["year_established"])
    assert rejected["errors"].tolist() == [
        "employees: Must be between 0 and 100000.",
        "sector: Unknown value 'space'. Must be one of: apparel, textile, footwear_leather, "
        "jewelry_accessories, handicraft, furniture_wood, food_beverage, cosmetics_herbal, "
        f"medical_devices, other.; year_established: {year_range}",
        "sme_id: Missing data for required field.",
    ]
    scores = pd.read_csv(out)
    assert len(scores) == 37
    assert not {6, 12, 13} & set(scores["row"])
    assert scores["row"].is_monotonic_increasing


def test_many_rejected_rows_are_listed_twenty_at_most(run, profiles, tmp_path):
    frame = profiles.head(30).copy()
    frame["employees"] = -1
    source = write_input(frame, tmp_path / "bad.parquet")
    result = run("rescore", source, "--out", tmp_path / "out.csv", "--chunk-rows", "7")
    assert result.exit_code == EXIT_REJECTED_ROWS
    listed = [line for line in result.stderr.splitlines() if re.match(r"rejected row \d", line)]
    assert len(listed) == 20 and "... and 10 more" in result.stderr
    assert len(pd.read_csv(tmp_path / "out.rejected.csv")) == 30
    assert len(pd.read_csv(tmp_path / "out.csv")) == 0


def test_a_clean_run_leaves_no_side_file_from_an_earlier_one(run, profiles, tmp_path):
    out = tmp_path / "scores.csv"
    dirty = write_input(with_bad_rows(profiles.head(20)), tmp_path / "dirty.csv")
    clean = write_input(profiles.head(20), tmp_path / "clean.csv")
    assert run("rescore", dirty, "--out", out, "--quiet").exit_code == EXIT_REJECTED_ROWS
    assert (tmp_path / "scores.rejected.csv").exists()
    assert run("rescore", clean, "--out", out, "--quiet").exit_code == 0
    assert not (tmp_path / "scores.rejected.csv").exists()
    assert len(pd.read_csv(out)) == 20


def office_xlsx(frame: pd.DataFrame, path: Path) -> Path:
    """A workbook as Excel saves it: the sheet's used range stored at its start."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append([",".join(v) if isinstance(v, list) else v for v in row])
    workbook.save(path)
    return path


def test_the_progress_bar_knows_an_xlsx_files_length_from_its_used_range(
    streamed, profiles, tmp_path, capsys
):
    source = office_xlsx(profiles.head(300), tmp_path / "in.xlsx")
    summary = streamed(source, tmp_path / "out.csv", chunk_rows=100, progress=True)
    assert (summary.received, summary.scored) == (300, 300)
    bar = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line]
    assert "/300 " in bar[0]  # the length is known before the first row: time left shows
    assert "300/300" in bar[-1]


def test_a_file_with_no_rows_gives_the_columns_and_exit_0(run, profiles, tmp_path):
    source = write_input(profiles.head(0), tmp_path / "empty.parquet")
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"out.{suffix}"
        result = run("rescore", source, "--out", out, "--quiet")
        assert result.exit_code == 0
        frame = read_output(out)
        assert len(frame) == 0
        assert list(frame.columns[:3]) == ["row", "sme_id", "score"]


# --- resume -----------------------------------------------------------------------------------


class Killed(Exception):
    pass


def kill_after(chunks: int):
    def on_chunk(checkpoint):
        if checkpoint.chunks_done == chunks:
            raise Killed

    return on_chunk


@pytest.mark.parametrize("out_format", ["csv", "jsonl", "parquet"])
def test_resume_after_a_kill_writes_exactly_the_rows_of_an_uninterrupted_run(
    streamed, mixed_parquet, tmp_path, out_format
):
    whole = tmp_path / f"whole.{out_format}"
    streamed(mixed_parquet, whole, chunk_rows=100, scored_at=FIXED_TIME)

    out = tmp_path / f"resumed.{out_format}"
    paths = OutputPaths(out)
    with pytest.raises(Killed):
        streamed(
            mixed_parquet,
            out,
            chunk_rows=100,
            scored_at=FIXED_TIME,
            on_chunk=kill_after(2),
        )
    assert not out.exists() and not paths.rejected.exists()
    checkpoint = json.loads(paths.checkpoint.read_text())
    assert checkpoint["chunks_done"] == 2
    assert checkpoint["rows_written"] + checkpoint["rejected"] == checkpoint["received"] == 200
    assert checkpoint["settings"]["chunk_rows"] == 100
    # A chunk that was being written when the process died, beyond the checkpoint.
    if out_format == "parquet":
        (paths.parts / "0000002.parquet").write_bytes(b"PAR1 torn")
    else:
        with paths.partial.open("ab") as handle:
            handle.write(b'3,"SYN-half a row')

    scored_chunks = []
    summary = streamed(
        mixed_parquet,
        out,
        chunk_rows=100,
        workers=1,
        resume=True,
        on_chunk=lambda cp: scored_chunks.append(cp.chunks_done),
    )
    assert summary.resumed_chunks == 2
    assert scored_chunks == list(range(3, 13))  # finished chunks are not scored again
    assert (summary.received, summary.scored, summary.rejected) == (1200, 1197, 3)
    resumed, expected = read_output(out), read_output(whole)
    assert resumed["row"].is_unique
    pd.testing.assert_frame_equal(resumed, expected)
    assert resumed["scored_at"].unique().tolist() == [FIXED_TIME]  # the run's one timestamp
    rejected_whole = tmp_path / "whole.rejected.csv"
    assert paths.rejected.read_bytes() == rejected_whole.read_bytes()
    assert not paths.partial.exists() and not paths.checkpoint.exists()
    assert not paths.parts.exists()


def test_resume_after_sigkill_of_the_command(streamed, profiles, tmp_path):
    source = write_input(profiles, tmp_path / "in.csv")
    whole, out = tmp_path / "whole.jsonl", tmp_path / "out.jsonl"
    streamed(source, whole, chunk_rows=20)
    checkpoint = OutputPaths(out).checkpoint
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "rescore",
        str(source),
        "--out",
        str(out),
    ]
    process = subprocess.Popen([*command, "--chunk-rows", "20", "--workers", "1"], cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.exists() and json.loads(checkpoint.read_text())["chunks_done"] >= 3:
            break
        time.sleep(0.005)
    if process.poll() is not None:
        pytest.skip("the run finished before it could be killed")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists()

    summary = streamed(source, out, chunk_rows=20, resume=True)
    assert summary.resumed_chunks >= 3
    a, b = read_output(out), read_output(whole)
    assert a["row"].tolist() == list(range(2, 1202))
    pd.testing.assert_frame_equal(a.drop(columns="scored_at"), b.drop(columns="scored_at"))


def test_resume_with_a_changed_input_is_refused(streamed, run, profiles, tmp_path):
    source = write_input(profiles, tmp_path / "in.parquet", row_group_size=200)
    out = tmp_path / "out.csv"
    with pytest.raises(Killed):
        streamed(source, out, chunk_rows=100, on_chunk=kill_after(1))
    write_input(contract_profiles(1200, seed=12), source, row_group_size=200)
    with pytest.raises(RescoreError, match="the input is not the one the interrupted run read"):
        streamed(source, out, chunk_rows=100, resume=True)
    result = run("rescore", source, "--out", out, "--chunk-rows", "100", "--resume")
    assert result.exit_code == EXIT_INPUT
    assert result.stderr.count("\n") == 1 and "rerun without --resume" in result.stderr
    assert not out.exists()


def test_resume_with_other_settings_is_refused(streamed, mixed_parquet, tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(Killed):
        streamed(mixed_parquet, out, chunk_rows=100, on_chunk=kill_after(1))
    with pytest.raises(RescoreError, match="chunk_rows 100, this one 50"):
        streamed(mixed_parquet, out, chunk_rows=50, resume=True)


def test_resume_refuses_parquet_output_that_lost_finished_chunks(streamed, mixed_parquet, tmp_path):
    out = tmp_path / "out.parquet"
    with pytest.raises(Killed):
        streamed(mixed_parquet, out, chunk_rows=100, on_chunk=kill_after(2))
    (OutputPaths(out).parts / "0000001.parquet").unlink()
    with pytest.raises(RescoreError, match="lacks chunks its checkpoint lists"):
        streamed(mixed_parquet, out, chunk_rows=100, resume=True)


def test_resume_refuses_a_parquet_part_damaged_on_disk(streamed, mixed_parquet, tmp_path):
    out = tmp_path / "out.parquet"
    with pytest.raises(Killed):
        streamed(mixed_parquet, out, chunk_rows=100, on_chunk=kill_after(2))
    part = OutputPaths(out).parts / "0000001.parquet"
    part.write_bytes(part.read_bytes()[:-100])  # cut short: its footer is gone
    with pytest.raises(RescoreError) as refused:
        streamed(mixed_parquet, out, chunk_rows=100, resume=True)
    assert str(refused.value) == (
        "out.parquet.part.chunks/0000001.parquet is damaged (not a Parquet file "
        "(no PAR1 at its start and end)); rerun without --resume"
    )
    assert not out.exists()


def test_a_run_without_resume_starts_over(streamed, mixed_parquet, tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(Killed):
        streamed(mixed_parquet, out, chunk_rows=100, on_chunk=kill_after(3))
    summary = streamed(mixed_parquet, out, chunk_rows=100)
    assert summary.resumed_chunks == 0
    assert read_output(out)["row"].tolist() == [r for r in range(1, 1201) if r not in (5, 11, 12)]


# --- output problems --------------------------------------------------------------------------


def test_unwritable_output_directory_is_one_line_and_leaves_nothing_complete(
    run, mixed_parquet, tmp_path
):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    for out in (blocker / "out.csv", tmp_path / "missing" / "out.parquet"):
        result = run("rescore", mixed_parquet, "--out", out, "--quiet")
        assert result.exit_code == EXIT_INPUT
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir"]


def test_a_run_that_fails_at_the_end_leaves_only_part_files(streamed, mixed_parquet, tmp_path):
    out = tmp_path / "out.csv"

    def block_the_name(checkpoint):  # something takes the name: the rename into place fails
        if checkpoint.chunks_done == 3:
            out.mkdir()

    with pytest.raises(RescoreError, match="is a directory"):
        streamed(mixed_parquet, out, chunk_rows=500, on_chunk=block_the_name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.csv",
        "out.csv.part",
        "out.csv.part.checkpoint",
        "out.rejected.csv.part",
    ]


@pytest.mark.parametrize(
    ("out_format", "fail_at"), [("csv", "a chunk"), ("parquet", "a chunk"), ("parquet", "the end")]
)
def test_a_full_disk_is_one_line_and_leaves_no_complete_looking_output(
    run, streamed, mixed_parquet, tmp_path, monkeypatch, out_format, fail_at
):
    out = tmp_path / f"out.{out_format}"
    paths = OutputPaths(out)
    calls = {"n": 0}

    def disk_full(*args):
        calls["n"] += 1
        if fail_at == "the end" or calls["n"] >= 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args)

    target = "_join_parquet" if fail_at == "the end" else "_append"
    real = getattr(rescore_module, target)
    monkeypatch.setattr(rescore_module, target, disk_full)
    args = ("rescore", mixed_parquet, "--out", out, "--chunk-rows", "100", "--workers", "1")
    result = run(*args, "--quiet")
    assert result.exit_code == EXIT_INPUT
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: cannot write {paths.partial}: No space left on device")
    assert "rerun with --resume" in result.stderr
    assert not out.exists() and not paths.rejected.exists()
    assert paths.checkpoint.exists()  # finished chunks are kept, under names that say so

    monkeypatch.undo()  # room again: the resumed run gives the rows of an uninterrupted one
    assert run(*args, "--quiet", "--resume").exit_code == EXIT_REJECTED_ROWS
    whole = tmp_path / f"whole.{out_format}"
    streamed(mixed_parquet, whole, chunk_rows=100)
    pd.testing.assert_frame_equal(
        read_output(out).drop(columns="scored_at"), read_output(whole).drop(columns="scored_at")
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [out.name, whole.name, "out.rejected.csv", "whole.rejected.csv"]
    )


def test_output_formats_that_cannot_stream_are_refused(run, mixed_parquet, tmp_path):
    result = run("rescore", mixed_parquet, "--out", tmp_path / "out.xlsx")
    assert result.exit_code == EXIT_INPUT
    assert "must end in .csv, .parquet, .jsonl" in result.stderr


def test_scheduler_without_the_dask_engine_is_a_usage_error(run, mixed_parquet, tmp_path):
    result = run("rescore", mixed_parquet, "--out", tmp_path / "o.csv", "--scheduler", "x:1")
    assert result.exit_code == 2


# --- the Dask engine --------------------------------------------------------------------------

#: dask's own Parquet reader still calls a pandas API that pandas 3.1 deprecates.
dask_warnings = pytest.mark.filterwarnings("ignore:The inplace keyword")


@pytest.fixture(scope="module")
def dask_scheduler():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@dask_warnings
def test_dask_engine_gives_the_rows_of_the_pandas_engine(
    streamed, scorer, dask_scheduler, tmp_path
):
    from scoring.batch.dask_engine import rescore_dask

    frame = with_bad_rows(contract_profiles(3000, seed=5))
    source = write_input(frame, tmp_path / "in.parquet", row_group_size=400)
    local, distributed = tmp_path / "pandas.parquet", tmp_path / "dask.parquet"
    streamed(source, local, chunk_rows=1000, scored_at=FIXED_TIME)
    summary = rescore_dask(
        source, distributed, scheduler=dask_scheduler, scorer=scorer, scored_at=FIXED_TIME
    )
    assert (summary.received, summary.scored, summary.rejected) == (3000, 2997, 3)
    assert distributed.is_dir() and len(list(distributed.iterdir())) == 8  # one per row group
    got = pd.read_parquet(distributed).sort_values("row", ignore_index=True)
    pd.testing.assert_frame_equal(got, pd.read_parquet(local))
    assert (tmp_path / "dask.rejected.csv").read_bytes() == (
        tmp_path / "pandas.rejected.csv"
    ).read_bytes()
    assert not (tmp_path / "dask.parquet.part").exists()


@dask_warnings
def test_dask_engine_rejects_ids_repeated_across_partitions_as_the_pandas_engine_does(
    streamed, scorer, dask_scheduler, tmp_path
):
    from scoring.batch.dask_engine import rescore_dask

    frame = contract_profiles(1200, seed=11)
    # Row 1's id again in the third row group, and row 500's (with spaces) in the last.
    frame.loc[900, "sme_id"] = frame.loc[0, "sme_id"]
    frame.loc[1150, "sme_id"] = f"  {frame.loc[499, 'sme_id']} "
    source = write_input(frame, tmp_path / "in.parquet", row_group_size=400)
    local, distributed = tmp_path / "pandas.parquet", tmp_path / "dask.parquet"
    streamed(source, local, chunk_rows=400, scored_at=FIXED_TIME)
    summary = rescore_dask(
        source, distributed, scheduler=dask_scheduler, scorer=scorer, scored_at=FIXED_TIME
    )
    assert (summary.received, summary.scored, summary.rejected) == (1200, 1198, 2)
    rejected = pd.read_csv(tmp_path / "dask.rejected.csv", dtype=str)
    assert rejected["row"].tolist() == ["901", "1151"]
    assert [("row 1 of" in e, "row 500 of" in e) for e in rejected["errors"]] == [
        (True, False),
        (False, True),
    ]
    assert (tmp_path / "dask.rejected.csv").read_bytes() == (
        tmp_path / "pandas.rejected.csv"
    ).read_bytes()
    got = pd.read_parquet(distributed).sort_values("row", ignore_index=True)
    pd.testing.assert_frame_equal(got, pd.read_parquet(local))


@dask_warnings
def test_dask_engine_counts_the_non_data_rows_it_skipped(scorer, dask_scheduler, tmp_path):
    from scoring.batch.dask_engine import rescore_dask

    source = tmp_path / "office.csv"
    source.write_text(
        "DAFTAR UMKM BINAAN\n"
        "\n"
        "sme_id;name;sector;year_established;employees;annual_revenue_idr;has_nib;has_npwp\n"
        "A-1;Batik;apparel;2015;3;1.000.000;Ya;Ya\n"
        "A-2;Kopi;food_beverage;2018;5;2.000.000;Ya;Tidak\n"
        ";Jumlah;;;8;3.000.000;;\n"
        ";Mengetahui,;;;;;;\n"
        ";Kepala Dinas;;;;;;\n",
        encoding="utf-8",
    )
    summary = rescore_dask(
        source, tmp_path / "out.parquet", scheduler=dask_scheduler, scorer=scorer
    )
    assert (summary.received, summary.scored, summary.rejected) == (2, 2, 0)
    assert summary.skipped == 3


@dask_warnings
def test_dask_engine_through_the_command(run, dask_scheduler, mixed_parquet, tmp_path):
    out = tmp_path / "out.parquet"
    args = ("rescore", mixed_parquet, "--out", out, "--engine", "dask")
    result = run(*args, "--scheduler", dask_scheduler, "--quiet")
    assert result.exit_code == EXIT_REJECTED_ROWS
    assert "received 1200, scored 1197, rejected 3" in result.stderr
    assert len(pd.read_parquet(out)) == 1197
    again = run(*args, "--scheduler", dask_scheduler, "--quiet")  # replaces its own result
    assert again.exit_code == EXIT_REJECTED_ROWS
    assert len(pd.read_parquet(out)) == 1197
    resumed = run(*args, "--scheduler", dask_scheduler, "--quiet", "--resume")
    assert resumed.exit_code == EXIT_REJECTED_ROWS  # nothing to resume: a run from the start
    assert "resumed after" not in resumed.stderr
    jsonl = write_input(contract_profiles(10, seed=1), tmp_path / "in.jsonl")
    refused = run("rescore", jsonl, "--out", out, "--engine", "dask")
    assert refused.exit_code == EXIT_INPUT
    assert "the dask engine reads Parquet and CSV" in refused.stderr


@dask_warnings
def test_dask_engine_resumes_without_scoring_finished_partitions_again(
    scorer, dask_scheduler, tmp_path, monkeypatch
):
    from scoring.batch import dask_engine as dask_module

    frame = with_bad_rows(contract_profiles(2000, seed=3))
    source = write_input(frame, tmp_path / "in.parquet", row_group_size=250)  # 8 partitions
    whole = tmp_path / "whole.parquet"
    dask_module.rescore_dask(
        source, whole, scheduler=dask_scheduler, scorer=scorer, scored_at=FIXED_TIME
    )
    # The test cluster runs its workers as threads of this process: they see this patch.
    validate, validated = dask_module.validate_table, []

    def validate_unless_partition_5(raw, **options):
        if raw.first_row_number == 1 + 5 * 250:
            raise Killed
        validated.append(raw.first_row_number)
        return validate(raw, **options)

    monkeypatch.setattr(dask_module, "validate_table", validate_unless_partition_5)
    out = tmp_path / "out.parquet"
    paths = OutputPaths(out)
    done_folder = tmp_path / "out.parquet.part.done"
    with pytest.raises(Killed):
        dask_module.rescore_dask(
            source, out, scheduler=dask_scheduler, scorer=scorer, scored_at=FIXED_TIME
        )
    finished = {int(record.stem) for record in done_folder.glob("*.json")}
    assert finished == set(range(8)) - {5} and not out.exists()
    kept = {part.name: part.stat().st_mtime_ns for part in paths.partial.glob("part-*")}
    (paths.partial / "part-000005.parquet.tmp").write_bytes(b"PAR1 torn")  # died mid-write
    (done_folder / "000002.json").write_text('{"row": [1')  # damaged: scored again

    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(RescoreError, match=r"cannot resume: the input .*\(mtime_ns changed\)"):
        dask_module.rescore_dask(source, out, scheduler=dask_scheduler, scorer=scorer, resume=True)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(RescoreError, match="the interrupted run used engine dask, this one pandas"):
        rescore(source, out, scorer=scorer, workers=1, resume=True)

    def recording_validate(raw, **options):
        validated.append(raw.first_row_number)
        return validate(raw, **options)

    validated.clear()
    monkeypatch.setattr(dask_module, "validate_table", recording_validate)
    summary = dask_module.rescore_dask(
        source, out, scheduler=dask_scheduler, scorer=scorer, resume=True
    )
    assert sorted(validated) == [1 + 2 * 250, 1 + 5 * 250]  # only the unfinished ones
    assert summary.resumed_chunks == 6
    assert (summary.received, summary.scored, summary.rejected) == (2000, 1997, 3)
    got = pd.read_parquet(out).sort_values("row", ignore_index=True)
    pd.testing.assert_frame_equal(got, pd.read_parquet(whole).sort_values("row", ignore_index=True))
    assert got["scored_at"].unique().tolist() == [FIXED_TIME]  # the interrupted run's time
    kept.pop("part-000002.parquet")
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*") if p.name in kept} == kept
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:06d}.parquet" for i in range(8)]
    assert paths.rejected.read_bytes() == (tmp_path / "whole.rejected.csv").read_bytes()
    assert not done_folder.exists() and not paths.checkpoint.exists()


def office_csv(frame: pd.DataFrame, path: Path, *, line_break_in: int | None = None) -> Path:
    """CSV as an Indonesian office saves it: ';' between cells, decimal commas, a byte-order
    mark, lists separated by ',', a blank line; and a name spanning two lines if asked."""
    frame = frame.copy()
    for name in ("certifications", "export_markets", "target_markets"):
        frame[name] = frame[name].map(",".join)
    if line_break_in is not None:
        frame.loc[line_break_in, "name"] = "UD Maju\nJaya"
    lines = frame.to_csv(sep=";", decimal=",", index=False, lineterminator="\n").split("\n")
    lines.insert(20, "")
    path.write_text("\ufeff" + "\n".join(lines), encoding="utf-8")
    return path


@dask_warnings
@pytest.mark.parametrize("line_break_in", [None, 30])
def test_dask_engine_reads_csv_as_the_pandas_engine_does(
    streamed, scorer, dask_scheduler, tmp_path, monkeypatch, line_break_in
):
    from scoring.batch import dask_engine as dask_module

    monkeypatch.setattr(dask_module, "CSV_BLOCK_BYTES", 40_000)  # several partitions
    frame = with_bad_rows(contract_profiles(600, seed=7))
    source = office_csv(frame, tmp_path / "in.csv", line_break_in=line_break_in)
    local, distributed = tmp_path / "pandas.parquet", tmp_path / "dask.parquet"
    expected = streamed(source, local, chunk_rows=100, scored_at=FIXED_TIME)
    summary = dask_module.rescore_dask(
        source, distributed, scheduler=dask_scheduler, scorer=scorer, scored_at=FIXED_TIME
    )
    assert (summary.received, summary.scored, summary.rejected) == (600, 597, 3)
    assert (expected.received, expected.scored, expected.rejected) == (600, 597, 3)
    # A value spanning lines keeps the file in one partition: Dask cuts CSV at line ends.
    assert (summary.chunks == 1) == (line_break_in is not None)
    got = pd.read_parquet(distributed).sort_values("row", ignore_index=True)
    pd.testing.assert_frame_equal(got, pd.read_parquet(local))
    assert got["row"].iloc[-1] == 602  # header row 1, a blank line: the rows a person sees
    assert (tmp_path / "dask.rejected.csv").read_bytes() == (
        tmp_path / "pandas.rejected.csv"
    ).read_bytes()


@dask_warnings
def test_dask_engine_refuses_a_broken_csv_with_the_readers_message(
    run, dask_scheduler, profiles, tmp_path
):
    source = write_input(profiles.head(50), tmp_path / "in.csv")
    with source.open("ab") as handle:
        handle.write(b'SYN-X,"an open quote\n')
    out = tmp_path / "out.parquet"
    args = ("rescore", source, "--out", out, "--engine", "dask", "--scheduler", dask_scheduler)
    result = run(*args, "--quiet")
    assert result.exit_code == EXIT_INPUT
    assert result.stderr.count("\n") == 1 and "opens a quote that is never closed" in result.stderr
    assert not out.exists() and not (tmp_path / "out.parquet.part").exists()


def test_dask_engine_without_dask_names_the_extra(run, mixed_parquet, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    result = run("rescore", mixed_parquet, "--out", tmp_path / "o.parquet", "--engine", "dask")
    assert result.exit_code == EXIT_INPUT
    assert result.stderr == (
        "error: the dask engine needs the distributed extra: pip install '.[distributed]'\n"
    )


def test_freed_heap_memory_is_given_back_only_past_both_limits(monkeypatch, tmp_path):
    """The reading process gives the C library's freed pages back once they pass the limit
    and the process has grown past its share of memory, once for each chunk it hands on;
    not below either, where it would only cost page faults."""
    from scoring.batch import workers

    free = {"bytes": workers.HEAP_FREE_LIMIT}
    resident = {"bytes": workers.RESIDENT_LIMIT + 1}
    trims = []

    class Info:
        @property
        def fordblks(self):
            return free["bytes"]

    heap = workers._GLIBC_HEAP._replace(mallinfo2=Info, malloc_trim=trims.append)
    monkeypatch.setattr(workers, "_GLIBC_HEAP", heap)
    monkeypatch.setattr(workers, "resident_bytes", lambda: resident["bytes"])
    workers.give_back_freed_memory()
    assert trims == []
    free["bytes"] = workers.HEAP_FREE_LIMIT + 1
    resident["bytes"] = workers.RESIDENT_LIMIT
    workers.give_back_freed_memory()
    assert trims == []
    resident["bytes"] = workers.RESIDENT_LIMIT + 1
    workers.give_back_freed_memory()
    assert trims == [0]

    trims.clear()
    source = tmp_path / "in.csv"
    frame = synth.generate_profiles(30, seed=5).drop(columns=[synth.LABEL])
    write_table(frame, source, format="csv")
    summary = rescore(source, tmp_path / "out.parquet", chunk_rows=10, workers=1)
    assert summary.scored == 30
    assert trims == [0, 0, 0]  # one for each of the three chunks


def test_resident_memory_is_read_from_the_system():
    from scoring.batch import workers

    before = workers.resident_bytes()
    block = bytearray(b"x") * (64 * 2**20)  # every page written
    assert workers.resident_bytes() - before >= 60 * 2**20
    del block


def test_a_pool_process_gives_back_the_free_heap_it_starts_with(monkeypatch, scorer):
    """A forked pool process shares its parent's heap pages, free ones included, and they
    count in its resident memory: its initializer trims them whatever their amount."""
    from scoring.batch import workers

    trims = []
    heap = workers._GLIBC_HEAP._replace(malloc_trim=trims.append)
    monkeypatch.setattr(workers, "_GLIBC_HEAP", heap)
    # the initializer's other settings are the pool process's own: not in this process
    monkeypatch.setattr(workers, "steady_heap", lambda: None)
    monkeypatch.setattr(workers, "collect_less", lambda: None)
    monkeypatch.setattr(workers.signal, "signal", lambda *args: None)
    monkeypatch.setattr(workers.pa, "set_memory_pool", lambda pool: None)
    monkeypatch.setattr(workers, "_worker_scorer", None)
    workers._start_worker(scorer)
    assert trims == [0]
    assert workers._worker_scorer is scorer


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_the_pool_process_starts_at_the_first_chunk_and_holds_up_to_three(
    scorer, profiles, tmp_path, monkeypatch, start_method
):
    """Decided when the first chunk is read; then each pool process is given up to
    ``IN_HAND`` chunks. A forked process (Linux) has everything at once and gets the first
    chunk too; a spawned one imports what it needs while this process scores that chunk."""
    from scoring.batch import workers
    from scoring.batch.chunks import InputChunks
    from scoring.batch.workers import IN_HAND, ChunkScorer

    monkeypatch.setattr(workers, "START_METHOD", start_method)
    source = tmp_path / "in.csv"
    write_table(profiles.iloc[:60], source, format="csv")
    chunks = iter(InputChunks(source, chunk_rows=10, skip=0))
    scoring = ChunkScorer(
        scorer, workers=2, fmt="csv", scored_at=FIXED_TIME, pool_worth=lambda: True
    )
    try:
        first = scoring._submit(next(chunks))
        assert scoring._pool is not None and len(scoring._pool._processes) == 1  # started
        assert scoring._pool._mp_context.get_start_method() == start_method
        if start_method == "spawn":
            assert first.done() and first not in scoring._in_pool  # scored here
            in_pool = []
        else:
            assert first in scoring._in_pool  # given to the forked process
            in_pool = [first]
        later = []
        while len(in_pool) < IN_HAND:  # with fewer than IN_HAND in hand, a chunk goes there
            later.append(scoring._submit(next(chunks)))
            assert later[-1] in scoring._in_pool
            in_pool.append(later[-1])
        later += [scoring._submit(next(chunks)) for _ in range(5 - len(later))]
        assert len(scoring._in_pool) <= IN_HAND == 3
        assert [f.result().scored for f in [first, *later]] == [10] * 6
    finally:
        scoring.close()


def test_a_steady_heap_keeps_a_chunks_arrays_off_their_own_memory_mappings():
    """glibc maps a 16 MB array on its own by default (and unmaps it when freed, faulting
    its pages in again next time); with ``steady_heap`` it comes from the heap."""
    code = (
        "import sys, numpy as np\n"
        "from scoring.batch import workers\n"
        "if sys.argv[1] == 'steady':\n"
        "    workers.steady_heap()\n"
        "array = np.ones(2 * 2**20)  # 16 MB\n"
        "print(workers._GLIBC_HEAP.mallinfo2().hblkhd >= array.nbytes)\n"
    )
    mapped = {
        how: subprocess.run(
            [sys.executable, "-c", code, how], capture_output=True, text=True, check=True
        ).stdout.strip()
        for how in ("default", "steady")
    }
    assert mapped == {"default": "True", "steady": "False"}
