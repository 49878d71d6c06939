"""The jobs_worker process: reserve rows, perform them, record each outcome."""

from .worker import Worker, WorkerOptions

__all__ = ["Worker", "WorkerOptions"]
