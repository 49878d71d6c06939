"""One adapter per peer job queue, used inside the peers' virtualenv.

An adapter enqueues jobs through the library's public API, counts the jobs
that are still queued or running, clears the library's tables or Redis
keys, and names the command that starts the library's standard worker.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


class Adapter:
    """The interface the workloads use; subclasses implement it for one library."""

    #: Distribution name on PyPI, for the version in the table.
    library = ""
    #: The table's label for the variant, appended to library and version.
    variant = ""
    store = ""
    #: How the workers run, for the table.
    workers = ""
    has_bulk = False
    #: Empty polls in a row that count as drained. The Redis peers need 2, because a job
    #: leaves the queue before the worker registers it as running.
    empty_polls = 1

    @property
    def label(self) -> str:
        version = importlib.metadata.version(self.library)
        return f"{self.library} {version}" + (f", {self.variant}" if self.variant else "")

    def connect(self) -> None:
        """Open the connections and install the library's schema; raise ServerError when a server is down."""
        raise NotImplementedError

    def reset(self) -> None:
        """Delete every job, result and log entry of this library, and nothing else."""
        raise NotImplementedError

    def enqueue(self, number: int) -> None:
        raise NotImplementedError

    def enqueue_bulk(self, count: int) -> None:
        """Enqueue ``count`` no-op jobs with the library's bulk API (only when has_bulk)."""
        raise NotImplementedError

    def enqueue_latency(self, index: int, enqueued_at: float) -> None:
        raise NotImplementedError

    def pending(self) -> int:
        """Return the number of jobs that are queued or running."""
        raise NotImplementedError

    def failed(self) -> int | None:
        """Return the number of failed jobs, or None where the store doesn't record failures."""
        return None

    def worker_commands(self) -> list[list[str]]:
        """Return one command per worker process to start."""
        raise NotImplementedError

    def worker_environment(self) -> dict[str, str]:
        """Return variables to add to the workers' environment."""
        return {}

    def close(self) -> None:
        pass


def script(name: str) -> str:
    """Return the path of a console script installed in this virtualenv, such as ``celery``."""
    return str(Path(sysconfig.get_path("scripts")) / name)


def python() -> str:
    return sys.executable


def base_environment() -> dict[str, str]:
    """Return the variables every worker gets: the checkout on PYTHONPATH, so ``bench.peers`` imports."""
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": python_path}
