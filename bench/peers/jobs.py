"""The job bodies every peer runs: a no-op, and one that records its pickup latency."""

from __future__ import annotations

import os
import time

#: Environment variable with the path of the samples file that record_latency appends to.
SAMPLES_VARIABLE = "PEERS_SAMPLES"


def noop(number: int) -> None:
    """Do nothing; ``number`` only gives the job a small argument to serialize."""


def record_latency(index: int, enqueued_at: float) -> None:
    """Append ``index`` and the seconds since ``enqueued_at`` (a time.time() value) to the samples file.

    One os.write on an O_APPEND descriptor per line, so lines from several
    worker processes don't interleave.
    """
    started_at = time.time()
    descriptor = os.open(os.environ[SAMPLES_VARIABLE], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, f"{index} {started_at - enqueued_at!r}\n".encode())
    finally:
        os.close(descriptor)
