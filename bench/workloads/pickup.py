"""Pickup latency: how long an idle worker takes to start a job after ``perform_later``.

One ``jobs_worker`` process waits idle. The benchmark enqueues JOBS no-op
jobs SPACING seconds apart, and each carries ``time.time()`` taken just
before its ``perform_later`` call. At the start of ``perform`` the job writes
``time.time()`` minus that argument to a samples file. A run reports the
p50, p95 and maximum of those delays in milliseconds.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.stats import percentile

from . import MeasurementError, Target

if TYPE_CHECKING:
    from bench.session import Session

TITLE = (
    "Pickup latency: one idle worker, 200 jobs enqueued 20 ms apart, "
    "start of perform minus the time just before perform_later"
)
METRICS = [("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("max_ms", "max ms")]
VARIANT_HEADER = "Worker wake-up"
TARGETS = [
    Target(database="postgres", variant="listen", metric="p50_ms", below=2.0,
           description="p50 under 2 ms on PostgreSQL with LISTEN/NOTIFY"),
    Target(database="postgres", variant="listen", metric="p95_ms", below=5.0,
           description="p95 under 5 ms on PostgreSQL with LISTEN/NOTIFY"),
]

JOBS = 200
SPACING = 0.020

#: Seconds to wait for the last sample beyond the worker's sleep_delay.
DRAIN_TIMEOUT = 60.0

#: django_activejob.log.worker_stopped's line, with the worker's counts.
STOPPED_LINE = re.compile(r"Stopped worker identifier=\S+ performed=(\d+) failed=(\d+)")


@dataclass(frozen=True)
class Variant:
    """A worker configuration: wake-up by LISTEN/NOTIFY, or polling every ``sleep_delay`` seconds."""

    key: str
    label: str
    listen: bool = False
    #: --sleep-delay for jobs_worker; None keeps ACTIVEJOB["SLEEP_DELAY"].
    sleep_delay: float | None = None
    #: Merged into the worker's ACTIVEJOB setting.
    activejob: dict[str, Any] = field(default_factory=dict)
    #: CONN_MAX_AGE None for the worker, instead of Django's 0 (a new connection in every loop).
    persistent_connections: bool = False


def variants(vendor: str) -> list[Variant]:
    if vendor == "postgresql":
        no_listen = {"LISTEN_NOTIFY": False}
        return [
            Variant("listen", "LISTEN/NOTIFY, sleep_delay 5 s (default)", listen=True),
            Variant("listen-persistent", "LISTEN/NOTIFY, CONN_MAX_AGE None (persistent connections)",
                    listen=True, persistent_connections=True),
            Variant("poll-5s", "polling, LISTEN_NOTIFY False, sleep_delay 5 s (default)",
                    activejob=no_listen),
            Variant("poll-0.1s", "polling, LISTEN_NOTIFY False, sleep_delay 0.1 s",
                    sleep_delay=0.1, activejob=no_listen),
        ]
    return [
        Variant("poll-5s", "polling, sleep_delay 5 s (default)"),
        Variant("poll-0.1s", "polling, sleep_delay 0.1 s", sleep_delay=0.1),
    ]


def measure(variant: Variant, session: Session) -> dict[str, Any]:
    from bench import databases
    from bench.benchapp.jobs import PickupJob
    from django_activejob import conf

    databases.clear_queue()
    samples_path = session.path(f"pickup-{variant.key}.samples")
    arguments = [] if variant.sleep_delay is None else ["--sleep-delay", f"{variant.sleep_delay:g}"]
    sleep_delay = variant.sleep_delay or conf.get("SLEEP_DELAY")

    environment = {
        "BENCH_SAMPLES_FILE": str(samples_path),
        # Set in both cases, so a BENCH_CONN_MAX_AGE in the caller's environment can't leak in.
        "BENCH_CONN_MAX_AGE": "null" if variant.persistent_connections else "",
    }

    with session.worker(f"pickup-{variant.key}", arguments=arguments, activejob=variant.activejob,
                        environment=environment) as worker:
        worker.wait_until_idle(listen=variant.listen)
        enqueue_calls = enqueue_paced(PickupJob)
        delays = wait_for_samples(
            samples_path, timeout=sleep_delay + DRAIN_TIMEOUT, worker_log=worker.log_tail
        )
        status = worker.stop()
        if status != 0:
            raise MeasurementError(
                f"Worker {worker.identifier} exited with status {status} after SIGTERM.\n{worker.log_tail()}"
            )
        performed, failed = stopped_counts(worker.log())

    if failed:
        raise MeasurementError(
            f"{failed} pickup job(s) failed in worker {worker.identifier}; see {worker.log_path}."
        )
    latencies = [delay * 1000 for delay in delays]
    return {
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies),
        "min_ms": min(latencies),
        "jobs": len(latencies),
        "performed": performed,
        "enqueue_call_p50_ms": percentile([seconds * 1000 for seconds in enqueue_calls], 50),
        "latencies_ms": [round(value, 3) for value in latencies],
    }


def enqueue_paced(job_class: type) -> list[float]:
    """Enqueue JOBS jobs SPACING seconds apart; return how long each perform_later call took."""
    durations = []
    start = time.monotonic()
    for number in range(JOBS):
        # Pace against the start, so a slow call doesn't push every later job back.
        pause = start + number * SPACING - time.monotonic()
        if pause > 0:
            time.sleep(pause)

        enqueued_at = time.time()
        job_class.perform_later(number, enqueued_at)
        durations.append(time.time() - enqueued_at)
    return durations


def wait_for_samples(path: Path, *, timeout: float, worker_log: Any) -> list[float]:
    """Wait until every job wrote its sample; return the delays in seconds, in job order.

    Raises MeasurementError when samples are missing after ``timeout``
    seconds, or when a job wrote more than one (it was performed twice).
    """
    deadline = time.monotonic() + timeout
    while True:
        samples = read_samples(path)
        if len(samples) >= JOBS or time.monotonic() >= deadline:
            break
        time.sleep(0.1)

    numbers = [number for number, _ in samples]
    missing = sorted(set(range(JOBS)) - set(numbers))
    if missing:
        raise MeasurementError(
            f"{len(missing)} of {JOBS} pickup jobs wrote no sample within {timeout:g} s "
            f"(first missing: {missing[:5]}).\n{worker_log()}"
        )
    if len(numbers) != len(set(numbers)):
        raise MeasurementError(
            f"{len(numbers) - len(set(numbers))} pickup job(s) were performed more than once; "
            f"see {path}.\n{worker_log()}"
        )
    return [delay for _, delay in sorted(samples)]


def read_samples(path: Path) -> list[tuple[int, float]]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    samples = []
    # The text after the last newline is empty, or a line the worker is still writing.
    for line in text.split("\n")[:-1]:
        number, delay = line.split()
        samples.append((int(number), float(delay)))
    return samples


def stopped_counts(log: str) -> tuple[int, int]:
    """Return the performed and failed counts of the worker's "Stopped worker" log line."""
    match = STOPPED_LINE.search(log)
    if match is None:
        raise MeasurementError("The worker log has no 'Stopped worker' line with its counts.")
    return int(match.group(1)), int(match.group(2))
