"""The inline adapter: perform each job in the caller's thread."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING

from django.db import transaction

from ..exceptions import UnsupportedFeatureError
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
    ``wait_until`` is not supported.
    """

    name = "inline"

    def enqueue(self, job: Job) -> None:
        payload = json.loads(json.dumps(job.serialize()))
        transaction.on_commit(lambda: _perform(payload))

    def enqueue_at(self, job: Job, run_at: datetime.datetime) -> None:
        raise UnsupportedFeatureError(
            f"The inline adapter can't schedule {type(job).__name__} for {run_at.isoformat()}: "
            f"use the database adapter, or enqueue without wait/wait_until."
        )


def _perform(payload: dict) -> None:
    from ..job import Job

    Job.deserialize(payload).perform_now()
