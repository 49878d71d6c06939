"""The inline adapter: perform each job in the caller's thread."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING

from .base import QueueAdapter

if TYPE_CHECKING:
    from ..job import Job


class InlineAdapter(QueueAdapter):
    """Perform jobs at once, in the process and thread that enqueues them.

    The job goes through the same JSON round trip as on the database
    adapter, so an argument that would fail in production fails here too.
    Inside a transaction the job runs after the commit, and not at all on a
    rollback. Exceptions from ``perform`` reach the caller of
    ``perform_later``, or of the commit. Scheduling with ``wait`` or
    ``wait_until`` is not supported, and neither is retry_on with a wait.
    """

    name = "inline"
    supports_scheduling = False

    def enqueue(self, job: Job) -> None:
        from ..job import Job

        payload = json.loads(json.dumps(job.serialize()))
        # Arguments load inside perform_now, where discard_on and retry_on see their errors.
        performed = Job.instantiate(payload)
        performed.adapter_name = self.name
        performed.perform_now()

    def enqueue_at(self, job: Job, run_at: datetime.datetime) -> None:
        # Job.enqueue rejects future run times before they get here, because
        # supports_scheduling is False; a run time already reached runs now.
        self.enqueue(job)
