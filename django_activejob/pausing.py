"""Pause and resume queues: workers skip the jobs of a paused queue until it is resumed."""

from __future__ import annotations

from django.db import connections, transaction

from . import conf, log
from .models import PausedQueue
from .queues import validate_queue_name


def paused_queues(using: str | None = None) -> set[str]:
    return set(PausedQueue.objects.using(using or conf.get("DATABASE")).values_list("queue", flat=True))


def pause_queue(queue: str, paused_by: str = "", using: str | None = None) -> bool:
    """Pause ``queue``; return False if it was paused already.

    Jobs that a worker has started finish; no worker starts another one
    from this queue until it is resumed.
    """
    using = using or conf.get("DATABASE")
    validate_queue_name(queue)
    paused = PausedQueue.objects.using(using)
    _, created = paused.get_or_create(queue=queue, defaults={"paused_by": paused_by})
    if created:
        log.queue_paused(queue, paused_by)
    return created


def resume_queue(queue: str, resumed_by: str = "", using: str | None = None) -> bool:
    """Resume ``queue`` and wake idle workers; return False if it was not paused."""
    using = using or conf.get("DATABASE")
    with transaction.atomic(using=using):
        deleted, _ = PausedQueue.objects.using(using).filter(queue=queue).delete()
        if deleted and connections[using].vendor == "postgresql":
            # Workers that LISTEN wake at the commit, as for a new job.
            with connections[using].cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", ["django_activejob", queue])
    if deleted:
        log.queue_resumed(queue, resumed_by)
    return bool(deleted)
