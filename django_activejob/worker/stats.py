"""Per-minute counts of performed and failed executions, per queue, for the dashboard.

The worker adds to an in-memory tally after each job, and its heartbeat
thread writes the tally to the QueueStat table, so counting costs no query
per job.
"""

from __future__ import annotations

import datetime
import threading
from collections import defaultdict

from django.db import IntegrityError, transaction
from django.db.models import F

from ..models import QueueStat

#: How long the per-minute counts are kept.
STATS_RETENTION = datetime.timedelta(days=1)


def minute_of(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(second=0, microsecond=0)


class QueueTally:
    """Counts not yet written, keyed by (queue, minute); safe to use from two threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, datetime.datetime], list[int]] = defaultdict(lambda: [0, 0])

    def add(self, queue: str, moment: datetime.datetime, failed: bool) -> None:
        with self._lock:
            self._counts[(queue or "default", minute_of(moment))][1 if failed else 0] += 1

    def flush(self, using: str) -> None:
        """Write the counts; on a database error they are kept for the next flush."""
        with self._lock:
            counts, self._counts = self._counts, defaultdict(lambda: [0, 0])
        try:
            for (queue, minute), (performed, failed) in list(counts.items()):
                _add(using, queue, minute, performed, failed)
                del counts[(queue, minute)]
        finally:
            if counts:
                with self._lock:
                    for key, (performed, failed) in counts.items():
                        self._counts[key][0] += performed
                        self._counts[key][1] += failed


def _add(using: str, queue: str, minute: datetime.datetime, performed: int, failed: int) -> None:
    rows = QueueStat.objects.using(using).filter(queue=queue, minute=minute)
    if rows.update(performed=F("performed") + performed, failed=F("failed") + failed):
        return
    try:
        with transaction.atomic(using=using):
            QueueStat.objects.using(using).create(
                queue=queue, minute=minute, performed=performed, failed=failed
            )
    except IntegrityError:
        # Another worker created the row first.
        rows.update(performed=F("performed") + performed, failed=F("failed") + failed)


def prune_stats(using: str, now: datetime.datetime) -> int:
    deleted, _ = QueueStat.objects.using(using).filter(minute__lt=now - STATS_RETENTION).delete()
    return deleted
