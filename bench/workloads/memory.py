"""Worker memory: the resident set of one ``jobs_worker`` process over a million no-op jobs.

One worker process (no supervisor) performs TOTAL no-op jobs. The
benchmark keeps the queue fed in chunks of CHUNK with perform_all_later,
never more than MAX_QUEUED at once, and reads the worker's VmRSS from
/proc when the number of performed jobs passes each checkpoint. Growth is
the change from the first checkpoint (100,000 jobs) to the last
(1,000,000), as a share of the first.

A run takes several minutes, so the workload runs once whatever the value of --runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import MeasurementError, Target

if TYPE_CHECKING:
    from bench.session import Session

TITLE = "Worker memory: resident set of one jobs_worker process after 100,000 and 1,000,000 no-op jobs"
METRICS = [("rss_100k_mb", "RSS at 100k MB"), ("rss_1m_mb", "RSS at 1M MB"), ("growth_pct", "growth %")]
VARIANT_HEADER = "Worker"
TARGETS = [
    Target(database="postgres", variant="one-process", metric="growth_pct", below=10.0,
           description="RSS grows less than 10 % from 100,000 to 1,000,000 jobs on PostgreSQL"),
]

#: The workload runs once; each run performs TOTAL jobs.
MAX_RUNS = 1

TOTAL = 1_000_000
CHECKPOINTS = (100_000, 250_000, 500_000, 750_000, 1_000_000)
CHUNK = 50_000
MAX_QUEUED = 100_000

#: Seconds between two looks at the queue and the worker's memory.
POLL_INTERVAL = 0.2

#: Seconds the whole run may take before it fails.
TIMEOUT = 1800.0


@dataclass(frozen=True)
class Variant:
    key: str
    label: str


def variants(vendor: str) -> list[Variant]:
    # One database is enough to see a leak; PostgreSQL is the fastest to get there.
    if vendor != "postgresql":
        return []
    return [Variant("one-process", "one jobs_worker process, no supervisor")]


def measure(variant: Variant, session: Session) -> dict[str, Any]:
    from bench import databases

    databases.clear_queue()
    enqueued = feed(0)
    samples: dict[int, float] = {}
    worker = session.worker("memory", arguments=[], activejob={}, environment={"BENCH_CONN_MAX_AGE": ""})
    with worker:
        started = time.monotonic()
        checkpoints = list(CHECKPOINTS)
        while checkpoints:
            worker.check_alive()
            performed = enqueued - queued()
            while checkpoints and performed >= checkpoints[0]:
                samples[checkpoints.pop(0)] = resident_megabytes(worker.pid)
            if enqueued < TOTAL and enqueued - performed < MAX_QUEUED:
                enqueued = feed(enqueued)
            if time.monotonic() - started > TIMEOUT:
                message = f"Only {performed:,} of {TOTAL:,} jobs were performed after {TIMEOUT:g} s."
                raise MeasurementError(f"{message}\n{worker.log_tail()}")
            time.sleep(POLL_INTERVAL)
        seconds = time.monotonic() - started
        status = worker.stop()
    if status != 0:
        raise MeasurementError(f"jobs_worker exited with status {status} after SIGTERM.\n{worker.log_tail()}")

    first, last = samples[CHECKPOINTS[0]], samples[CHECKPOINTS[-1]]
    return {
        "rss_100k_mb": first,
        "rss_1m_mb": last,
        "growth_pct": 100 * (last - first) / first,
        "rss_mb_by_jobs": {str(jobs): rss for jobs, rss in samples.items()},
        "jobs_s": TOTAL / seconds,
    }


def feed(enqueued: int) -> int:
    """Enqueue the next CHUNK jobs; return how many were enqueued in all."""
    from bench.benchapp.jobs import NoopJob
    from django_activejob import perform_all_later

    count = min(CHUNK, TOTAL - enqueued)
    perform_all_later([NoopJob(number) for number in range(enqueued, enqueued + count)])
    return enqueued + count


def queued() -> int:
    from django_activejob.models import DelayedJob

    return DelayedJob.objects.count()


def resident_megabytes(pid: int) -> float:
    """Return VmRSS of process ``pid`` in MiB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise MeasurementError(f"/proc/{pid}/status has no VmRSS line.")
