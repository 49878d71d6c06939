"""django.tasks tasks for django-tasks-db; import only after django.setup()."""

from __future__ import annotations

from django.tasks import task

from bench.peers import jobs


@task
def noop(number: int) -> None:
    jobs.noop(number)


@task
def record_latency(index: int, enqueued_at: float) -> None:
    jobs.record_latency(index, enqueued_at)
