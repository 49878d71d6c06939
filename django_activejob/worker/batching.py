"""How many rows a worker reserves at once: a fixed count, or about BATCH_SECONDS of work.

A worker that reserves one row per query spends most of its time on round
trips when jobs take microseconds. A worker that reserves many rows holds
them while it works through them, so other workers can't take them and a
more urgent job waits behind them. With READ_AHEAD None (the default) the
worker sizes each batch from the time its recent jobs took, so a batch
lasts about BATCH_SECONDS: hundreds of no-op jobs, or one slow job.
"""

from __future__ import annotations

#: The time a batch of jobs should take, from its reserve to its last outcome.
BATCH_SECONDS = 0.1

#: The maximum number of rows in an automatic batch, however short the jobs.
MAX_BATCH = 100

#: The weight of the latest batch in the running average of one job's time.
SMOOTHING = 0.3


class BatchSize:
    """The number of rows to reserve next: ``fixed``, or sized from recent batches when fixed is None."""

    def __init__(self, fixed: int | None = None) -> None:
        if fixed is not None and (isinstance(fixed, bool) or not isinstance(fixed, int) or fixed < 1):
            raise ValueError(f"read_ahead {fixed!r} is invalid: pass an int of 1 or more, or None.")
        self.fixed = fixed
        #: Seconds one job took on average in recent batches; None before the first batch.
        self.job_seconds: float | None = None

    def next(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if self.job_seconds is None:
            # Nothing is known about the jobs yet: one row, in case it is slow.
            return 1
        if self.job_seconds <= 0:
            return MAX_BATCH
        return max(1, min(MAX_BATCH, int(BATCH_SECONDS / self.job_seconds)))

    def record(self, jobs: int, seconds: float) -> None:
        """Count a finished batch of ``jobs`` rows that took ``seconds`` in all."""
        if jobs < 1:
            return
        latest = max(seconds, 0.0) / jobs
        if self.job_seconds is None:
            self.job_seconds = latest
        else:
            self.job_seconds += SMOOTHING * (latest - self.job_seconds)
