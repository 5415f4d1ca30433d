"""``sme-export worker``: run queued background batches in a process of their own.

The worker uses the service's configuration from the environment, like the web app
(``SME_EXPORT_CONFIG``, ``DATABASE_URL``), so it reads the same queue; start as many as
the machine has cores to spare. It stops on SIGTERM or Ctrl-C once its current batch is
done; a worker killed outright has its batch taken over by another once the lease runs
out (``api.services.batch_jobs``).
"""

from __future__ import annotations

import logging
import signal
import threading

import click
from sqlalchemy.exc import SQLAlchemyError

from api.cli.common import display_url, fail, one_line

_OVERRIDES = {
    "chunk_rows": "BATCH_CHUNK_ROWS",
    "lease_seconds": "BATCH_LEASE_SECONDS",
    "max_attempts": "BATCH_MAX_ATTEMPTS",
    "poll_seconds": "BATCH_POLL_SECONDS",
    "chunk_pause": "BATCH_CHUNK_PAUSE_SECONDS",
    "webhook_lease": "WEBHOOKS_LEASE_SECONDS",
    "webhook_pause": "WEBHOOKS_SEND_PAUSE_SECONDS",
}


@click.command()
@click.option(
    "--until-idle",
    is_flag=True,
    help="Exit once no batch is waiting and no delivery is due (a one-off or cron run).",
)
@click.option("--chunk-rows", type=click.IntRange(min=1), help="Rows per step [BATCH_CHUNK_ROWS].")
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=0.1),
    help="Lease renewed after every step [BATCH_LEASE_SECONDS].",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    help="Runs of a batch before it is failed [BATCH_MAX_ATTEMPTS].",
)
@click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0.0),
    help="How often an idle worker looks for batches [BATCH_POLL_SECONDS].",
)
@click.option("--chunk-pause", type=click.FloatRange(min=0.0), hidden=True)  # tests only
@click.option("--webhook-lease", type=click.FloatRange(min=0.1), hidden=True)  # tests only
@click.option("--webhook-pause", type=click.FloatRange(min=0.0), hidden=True)  # tests only
def worker(until_idle: bool, **settings) -> None:
    """Run queued background batches (uploads answered 202) and send webhook deliveries
    until stopped."""
    from api import create_app
    from api.db import database_url
    from api.services.batch_jobs import Worker

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("api.services.batch_jobs").setLevel(logging.INFO)
    logging.getLogger("api.services.webhooks").setLevel(logging.INFO)
    try:
        app = create_app()
    except (SQLAlchemyError, OSError, RuntimeError) as exc:
        fail(f"cannot start: {one_line(exc)}")
    app.config["BATCH_RUNNER"] = False
    for option, key in _OVERRIDES.items():
        if settings[option] is not None:
            app.config[key] = settings[option]
    runner = Worker(app)
    stop, wake = threading.Event(), threading.Event()

    def finish_and_stop(*_) -> None:
        stop.set()
        wake.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, finish_and_stop)
    url = database_url(app)
    click.echo(f"batch worker {runner.name} on {display_url(url)}", err=True)
    try:
        runner.run(stop, wake=wake, until_idle=until_idle)
    except SQLAlchemyError as exc:
        fail(f"cannot reach the batch queue: {one_line(exc)}")
    click.echo(f"batch worker {runner.name} stopped", err=True)
