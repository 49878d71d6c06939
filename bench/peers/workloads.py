"""The four peer workloads, each measured on one adapter in one run.

w1: enqueue jobs one at a time, no worker running.
w1b: the same with the library's bulk API.
w2: drain a full queue with the library's standard workers.
w3: pickup latency of idle workers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.peers import jobs
from bench.peers.adapters import Adapter
from bench.peers.workers import WorkerGroup
from bench.stats import percentile

#: Seconds between two polls of the store while the workers drain it.
POLL_INTERVAL = 0.05
#: Seconds a drain may take before the run fails.
DRAIN_TIMEOUT = 900.0
#: Latency jobs per run, and the seconds between their enqueue calls.
LATENCY_JOBS = 200
LATENCY_SPACING = 0.02
#: Seconds to wait for the probe job that shows the workers are up, and then for the workers to idle.
READY_TIMEOUT = 60.0
SETTLE_TIME = 2.0
#: Seconds to wait for the last latency sample after the last enqueue.
SAMPLES_TIMEOUT = 30.0


class WorkloadError(Exception):
    """A run failed: a job failed or went missing, or the workers didn't finish in time."""


def measure_enqueue(adapter: Adapter, count: int) -> dict[str, Any]:
    adapter.reset()
    started = time.perf_counter()
    for number in range(count):
        adapter.enqueue(number)
    seconds = time.perf_counter() - started
    return {"jobs": count, "seconds": seconds, "jobs_per_second": count / seconds}


def measure_bulk_enqueue(adapter: Adapter, count: int) -> dict[str, Any]:
    adapter.reset()
    started = time.perf_counter()
    adapter.enqueue_bulk(count)
    seconds = time.perf_counter() - started
    _check_pending(adapter, count)
    return {"jobs": count, "seconds": seconds, "jobs_per_second": count / seconds}


def fill_queue(adapter: Adapter, count: int) -> None:
    """Enqueue ``count`` no-op jobs for a drain, in bulk where the library can."""
    adapter.reset()
    if adapter.has_bulk:
        adapter.enqueue_bulk(count)
    else:
        for number in range(count):
            adapter.enqueue(number)


def measure_drain(adapter: Adapter, count: int, log_prefix: Path) -> dict[str, Any]:
    """Start the workers on ``count`` queued jobs and poll until none is queued or running.

    "jobs_per_second" counts from the worker start, "steady_jobs_per_second"
    from the first poll that saw fewer than ``count`` jobs.
    """
    _check_pending(adapter, count)
    first_seen_at = None
    remaining_at_first = count
    empty_since = None
    empty_polls = 0

    with WorkerGroup(adapter.worker_commands(), adapter.worker_environment(), log_prefix) as group:
        while True:
            now = time.time()
            remaining = adapter.pending()
            if first_seen_at is None and remaining < count:
                first_seen_at, remaining_at_first = now, remaining
            if remaining == 0:
                empty_polls += 1
                empty_since = empty_since or now
                if empty_polls >= adapter.empty_polls:
                    break
            else:
                empty_polls, empty_since = 0, None

            group.check_alive()
            if now - group.started_at > DRAIN_TIMEOUT:
                raise WorkloadError(f"The workers left {remaining} of {count} jobs pending "
                                    f"after {DRAIN_TIMEOUT:g} s.")
            time.sleep(POLL_INTERVAL)

    assert first_seen_at is not None and empty_since is not None
    _check_failed(adapter)
    total_seconds = empty_since - group.started_at
    steady_seconds = empty_since - first_seen_at
    return {
        **_stop_warning(group),
        "jobs": count,
        "seconds": total_seconds,
        "jobs_per_second": count / total_seconds,
        "startup_seconds": first_seen_at - group.started_at,
        "steady_jobs": remaining_at_first,
        "steady_jobs_per_second": remaining_at_first / steady_seconds if steady_seconds > 0 else None,
    }


def measure_latency(adapter: Adapter, log_prefix: Path) -> dict[str, Any]:
    """Enqueue LATENCY_JOBS jobs LATENCY_SPACING apart to idle workers; return the pickup latency in ms."""
    adapter.reset()
    samples_path = Path(f"{log_prefix}.samples")
    samples_path.unlink(missing_ok=True)
    environment = {**adapter.worker_environment(), jobs.SAMPLES_VARIABLE: str(samples_path)}

    with WorkerGroup(adapter.worker_commands(), environment, log_prefix) as group:
        _wait_until_ready(adapter, group, samples_path)

        enqueue_seconds = []
        started = time.time()
        for index in range(LATENCY_JOBS):
            delay = started + index * LATENCY_SPACING - time.time()
            if delay > 0:
                time.sleep(delay)
            enqueued_at = time.time()
            adapter.enqueue_latency(index, enqueued_at)
            enqueue_seconds.append(time.time() - enqueued_at)

        deadline = time.monotonic() + SAMPLES_TIMEOUT
        while (missing := _missing_samples(samples_path)) and time.monotonic() < deadline:
            group.check_alive()
            time.sleep(0.1)

    _check_failed(adapter)
    if missing:
        raise WorkloadError(
            f"{len(missing)} of {LATENCY_JOBS} latency jobs wrote no sample within {SAMPLES_TIMEOUT:g} s "
            f"of the last enqueue (first missing: {missing[:5]}); see {samples_path} and the worker logs."
        )
    samples = _read_samples(samples_path)
    latencies = [samples[index] * 1000 for index in range(LATENCY_JOBS)]
    return {
        **_stop_warning(group),
        "jobs": LATENCY_JOBS,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "max_ms": max(latencies),
        "enqueue_p50_ms": percentile([seconds * 1000 for seconds in enqueue_seconds], 50),
        "latencies_ms": latencies,
    }


def _wait_until_ready(adapter: Adapter, group: WorkerGroup, samples_path: Path) -> None:
    """Wait until a probe job (index -1) ran, then SETTLE_TIME more, so every worker waits idle."""
    adapter.enqueue_latency(-1, time.time())
    deadline = time.monotonic() + READY_TIMEOUT
    while -1 not in _read_samples(samples_path):
        group.check_alive()
        if time.monotonic() >= deadline:
            raise WorkloadError(f"The workers ran no probe job within {READY_TIMEOUT:g} s of their start.")
        time.sleep(0.05)
    time.sleep(SETTLE_TIME)
    group.check_alive()


def _missing_samples(path: Path) -> list[int]:
    """Return the latency job indices without a sample, ignoring the probe job's index -1."""
    return sorted(set(range(LATENCY_JOBS)) - set(_read_samples(path)))


def _read_samples(path: Path) -> dict[int, float]:
    """Return the samples file as index -> seconds; raise WorkloadError on a job that ran twice."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    samples: dict[int, float] = {}
    # The last element is "" or a line still being written, which has no newline yet.
    for line in text.split("\n")[:-1]:
        index_text, _, seconds_text = line.partition(" ")
        index = int(index_text)
        if index in samples:
            raise WorkloadError(f"Latency job {index} ran twice; see {path}.")
        samples[index] = float(seconds_text)
    return samples


def _stop_warning(group: WorkerGroup) -> dict[str, str]:
    return {"warning": group.stop_warning} if group.stop_warning else {}


def _check_pending(adapter: Adapter, expected: int) -> None:
    pending = adapter.pending()
    if pending != expected:
        raise WorkloadError(f"Expected {expected} pending jobs after the enqueue, found {pending}.")


def _check_failed(adapter: Adapter) -> None:
    failed = adapter.failed()
    if failed:
        raise WorkloadError(f"{failed} jobs failed; see the worker logs.")
