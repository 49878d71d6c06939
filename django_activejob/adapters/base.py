"""The interface every queue adapter implements."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..job import Job


class QueueAdapter:
    """Store or run enqueued jobs.

    ``name`` appears in log lines, as in "to database(default)".
    """

    name: str = ""
    #: False when the adapter can't hold a job until a later run time.
    supports_scheduling: bool = True

    def transaction_alias(self) -> str | None:
        """Return the database alias whose transaction the adapter writes through, or None.

        A job enqueued inside a transaction on that alias is stored or
        dropped with it. For any other alias or None, ``Job.enqueue`` waits for the
        default database's commit (see ``Job.defers_enqueue``).
        """
        return None

    def enqueue(self, job: Job) -> None:
        """Enqueue ``job`` to run as soon as a worker is free."""
        raise NotImplementedError

    def enqueue_at(self, job: Job, run_at: datetime.datetime) -> None:
        """Enqueue ``job`` to run at ``run_at`` (aware, UTC) or later."""
        raise NotImplementedError

    def enqueue_all(self, jobs: list[Job]) -> None:
        """Enqueue many jobs; each has ``scheduled_at`` set or None. Adapters may batch this."""
        for job in jobs:
            if job.scheduled_at is None:
                self.enqueue(job)
            else:
                self.enqueue_at(job, job.scheduled_at)
