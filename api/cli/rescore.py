"""``sme-export rescore``: score a large file with bounded memory, resumably, on this
machine or on a Dask cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from api.cli.common import EXIT_REJECTED_ROWS, fail, one_line, row_error_line
from scoring.errors import ScoringError


@click.command()
@click.argument(
    "source", metavar="IN", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Results file (.csv .parquet .jsonl; the dask engine writes a Parquet dataset "
    "folder); rejected rows go to <stem>.rejected.csv.",
)
@click.option(
    "--engine",
    type=click.Choice(["pandas", "dask"]),
    default="pandas",
    show_default=True,
    help="pandas: stream chunks on this machine; dask: Parquet or CSV in, Parquet out, on a "
    "Dask cluster.",
)
@click.option(
    "--scheduler",
    metavar="ADDR",
    help="Address of a running Dask scheduler (engine dask); default: a local cluster.",
)
@click.option("--chunk-rows", type=click.IntRange(min=1), default=25_000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Scoring processes (pandas; default: up to 2, one per core) or local Dask workers (2).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run: finished chunks (partitions) are not scored again.",
)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--ruleset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
def rescore(
    source, out, engine, scheduler, chunk_rows, workers, resume, models_dir, ruleset, quiet
):
    """Score every row of a large file with bounded memory, resumably, or on a Dask cluster."""
    from concurrent.futures.process import BrokenProcessPool

    if engine == "pandas" and scheduler is not None:
        raise click.UsageError("--scheduler needs --engine dask")
    progress = not quiet and sys.stderr.isatty()
    try:
        if engine == "dask":
            from scoring.batch.dask_engine import DEFAULT_DASK_WORKERS, rescore_dask

            summary = rescore_dask(
                source,
                out,
                scheduler=scheduler,
                workers=workers or DEFAULT_DASK_WORKERS,
                resume=resume,
                models_dir=models_dir,
                ruleset_path=ruleset,
                progress=progress,
            )
        else:
            from scoring.batch.rescore import DEFAULT_WORKERS
            from scoring.batch.rescore import rescore as run
            from scoring.batch.workers import steady_heap

            steady_heap()  # this process reads and scores until it ends
            summary = run(
                source,
                out,
                chunk_rows=chunk_rows,
                workers=workers or DEFAULT_WORKERS,
                resume=resume,
                models_dir=models_dir,
                ruleset_path=ruleset,
                progress=progress,
            )
    except ScoringError as exc:
        fail(one_line(exc))
    except OSError as exc:
        fail(f"{exc.filename}: {exc.strerror}" if exc.filename else one_line(exc))
    except BrokenProcessPool:
        fail("a scoring process died (out of memory?); rerun with --resume to continue")
    except KeyboardInterrupt:
        click.echo("interrupted; rerun with --resume to continue", err=True)
        sys.exit(130)
    if summary.resumed_chunks:
        click.echo(f"resumed after {summary.resumed_chunks} finished chunks", err=True)
    for error in summary.first_errors:
        click.echo(row_error_line(error), err=True)
    if summary.rejected > len(summary.first_errors):
        click.echo(f"... and {summary.rejected - len(summary.first_errors)} more", err=True)
    if summary.rejected_file is not None:
        click.echo(f"rejected rows written to {summary.rejected_file}", err=True)
    if summary.skipped:
        click.echo(f"skipped {summary.skipped} non-data rows (totals, notes, signatures)", err=True)
    click.echo(
        f"received {summary.received}, scored {summary.scored}, rejected {summary.rejected}; "
        f"wrote {summary.out}",
        err=True,
    )
    if summary.rejected:
        sys.exit(EXIT_REJECTED_ROWS)
