"""The interface every queue adapter implements."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..job import Job


class QueueAdapter:
    """Store or run enqueued jobs.

    ``name`` appears in log lines, as in "to database(default)".
    ``joins_transaction`` is True when the adapter writes through the
    caller's database transaction, so a rollback also drops the job.
    """

    name: str = ""
    joins_transaction: bool = False

    def enqueue(self, job: Job) -> None:
        """Enqueue ``job`` to run as soon as a worker is free."""
        raise NotImplementedError

    def enqueue_at(self, job: Job, run_at: datetime.datetime) -> None:
        """Enqueue ``job`` to run at ``run_at`` (aware, UTC) or later."""
        raise NotImplementedError
