"""Jobs that the benchmark workloads enqueue."""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from django_activejob import Job


class PickupJob(Job):
    """Append the delay between enqueue and the start of perform to ``BENCH_SAMPLES_FILE``.

    Each line is ``<number> <seconds>``. Both times come from ``time.time()``,
    so the enqueueing process and the worker must run on the same host.
    """

    def perform(self, number: int, enqueued_at: float) -> None:
        started_at = time.time()

        path = settings.BENCH_SAMPLES_FILE
        if not path:
            raise ImproperlyConfigured(
                "BENCH_SAMPLES_FILE is not set: set the environment variable to the file the "
                "pickup samples go to (bench/run.py does this for its worker processes)."
            )
        line = f"{number} {started_at - enqueued_at!r}\n"
        # One write() on an O_APPEND descriptor, so lines of concurrent workers don't interleave.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line.encode())
        finally:
            os.close(descriptor)


class NoopJob(Job):
    """Do nothing with one small integer: the job of the enqueue, drain and memory workloads."""

    def perform(self, number: int) -> None:
        pass
