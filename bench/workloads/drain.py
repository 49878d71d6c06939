"""Drain throughput: JOBS no-op jobs queued, then ``jobs_worker -n 2`` until none is left.

The jobs go in with perform_all_later before the workers start. The
benchmark then starts one ``jobs_worker --processes 2`` supervisor, the
command a two-core host runs, and counts the rows every POLL_INTERVAL
seconds until the table is empty. Every reliability feature stays at its
default: heartbeats, time limits, retries, at-least-once delivery, and the
log line for each job.

A run reports jobs per second from the start of the command (worker
start-up included) and from the first job that left the queue ("steady").
The workers' own counts must add up to JOBS performed and none failed, and
their logs must not say "database is locked".
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import MeasurementError, Target

if TYPE_CHECKING:
    from bench.session import Session

TITLE = f"Drain: {10_000:,} queued no-op jobs, jobs_worker --processes 2, every reliability feature on"
METRICS = [("steady_jobs_s", "steady jobs/s"), ("jobs_s", "jobs/s with start-up")]
VARIANT_HEADER = "Workers"
TARGETS = [
    Target(database="postgres", variant="processes-2", metric="steady_jobs_s", above=10_000,
           description="10,000 jobs/s on PostgreSQL with two processes"),
    Target(database="sqlite", variant="processes-2", metric="steady_jobs_s", above=2_000,
           description="2,000 jobs/s on SQLite with two processes"),
]

JOBS = 10_000

#: Seconds between two counts of the remaining rows.
POLL_INTERVAL = 0.05

#: Seconds the whole drain may take before the run fails.
DRAIN_TIMEOUT = 300.0

#: django_activejob.log.worker_stopped's line, one per worker process.
STOPPED_LINE = re.compile(r"Stopped worker identifier=\S+ performed=(\d+) failed=(\d+)")

#: SQLite's message when a write waited longer than the busy timeout.
LOCKED_MESSAGE = "database is locked"


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    processes: int


def variants(vendor: str) -> list[Variant]:
    return [Variant("processes-2", "jobs_worker --processes 2", processes=2)]


def measure(variant: Variant, session: Session) -> dict[str, Any]:
    from bench import databases
    from bench.benchapp.jobs import NoopJob
    from django_activejob import perform_all_later

    databases.clear_queue()
    perform_all_later([NoopJob(number) for number in range(JOBS)])

    worker = session.worker(
        f"drain-{variant.key}", arguments=["--processes", str(variant.processes)], activejob={},
        environment={"BENCH_CONN_MAX_AGE": ""},
    )
    with worker:
        started = time.monotonic()
        first_done, finished = wait_until_empty(started, worker)
        status = worker.stop()
    if status != 0:
        raise MeasurementError(f"jobs_worker exited with status {status} after SIGTERM.\n{worker.log_tail()}")
    check_log(worker.log(), worker.log_path)

    return {
        "jobs_s": JOBS / (finished - started),
        "steady_jobs_s": JOBS / (finished - first_done),
        "startup_s": first_done - started,
    }


def wait_until_empty(started: float, worker: Any) -> tuple[float, float]:
    """Count the rows until none is left; return when the first job left and when the last did."""
    from django.db import connection

    from django_activejob.models import DelayedJob

    first_done = None
    while True:
        remaining = DelayedJob.objects.count()
        now = time.monotonic()
        if first_done is None and remaining < JOBS:
            first_done = now
        if remaining == 0:
            return first_done, now
        if now - started > DRAIN_TIMEOUT:
            message = f"{remaining} of {JOBS} jobs were still queued after {DRAIN_TIMEOUT:g} s."
            raise MeasurementError(f"{message}\n{worker.log_tail()}")
        worker.check_alive()
        # Between counts the benchmark keeps no connection open, like a monitoring script.
        connection.close()
        time.sleep(POLL_INTERVAL)


def check_log(log: str, path: Any) -> None:
    """Raise MeasurementError unless the workers' counts add up to every job performed and none failed."""
    if LOCKED_MESSAGE in log:
        raise MeasurementError(f"A worker logged {LOCKED_MESSAGE!r}; see {path}.")
    counts = STOPPED_LINE.findall(log)
    performed = sum(int(done) for done, _ in counts)
    failed = sum(int(failures) for _, failures in counts)
    if failed or performed != JOBS:
        raise MeasurementError(
            f"The workers performed {performed} and failed {failed} of {JOBS} jobs; see {path}."
        )
