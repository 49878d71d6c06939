"""Record a performed row's outcome: delete it, reschedule it or mark it failed.

Every write is conditional on ``locked_by`` still naming this worker, so a
worker whose lock was taken over (it ran past max_run_time) can't undo
another worker's claim.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.db import Error, connections

from .. import log
from ..models import DelayedJob
from .errors import escape_non_bmp, format_error
from .execution import Execution

#: The maximum number of ids in one DELETE, below SQLite's oldest limit of 999 parameters.
DELETE_CHUNK = 500


def retry_delay(attempts: int) -> datetime.timedelta:
    """Return delayed_job's wait before the next attempt: ``attempts**4 + 5`` seconds.

    After attempt 1 the job waits 6 s, after 2: 21 s, 3: 86 s, 5: 630 s,
    10: about 2.8 hours, 20: about 1.9 days.
    """
    return datetime.timedelta(seconds=attempts**4 + 5)


@dataclass
class OutcomeRecorder:
    """Write the result of each execution back to the DelayedJob table."""

    identifier: str
    using: str
    max_attempts: int
    destroy_failed_jobs: bool
    max_error_bytes: int
    now: Callable[[], datetime.datetime]

    def record(self, row: DelayedJob, execution: Execution) -> bool:
        """Record ``execution``; log instead of raising if the database write fails.

        Returns False when nothing could be written (the database is
        unreachable), so the caller can try again later.
        """
        try:
            if execution.error is None:
                self._succeeded(row)
            else:
                self._failed(row, execution)
            return True
        except Error as exc:
            log.outcome_write_failed(row.pk, row.job_id, exc)
            self._drop_broken_connection()
            return self._fallback(row, execution)

    def delete_performed(self, rows: list[DelayedJob]) -> bool:
        """Delete the rows of jobs that succeeded, with one statement; False if the database failed.

        Only rows still locked by this worker go. A row that another worker
        took over, or that someone deleted meanwhile, is logged as a lost lock.
        """
        if not rows:
            return True
        deleted: set[int] = set()
        try:
            for start in range(0, len(rows), DELETE_CHUNK):
                deleted |= self._delete_mine([row.pk for row in rows[start:start + DELETE_CHUNK]])
        except Error as exc:
            log.outcome_write_failed(rows[0].pk, rows[0].job_id, exc)
            self._drop_broken_connection()
            return False
        for row in rows:
            if row.pk not in deleted:
                log.lock_lost(row.pk, row.job_id, self.identifier, "delete")
        return True

    def _delete_mine(self, pks: list[int]) -> set[int]:
        """Delete the rows of ``pks`` still locked by this worker, with one statement; return their ids.

        Django's QuerySet.delete() would wrap the statement in a transaction
        and collect related objects first: three round trips instead of one.
        On PostgreSQL the ids go as one array parameter.
        """
        connection = connections[self.using]
        quote = connection.ops.quote_name
        meta = DelayedJob._meta
        pk = quote(meta.pk.column)
        if connection.vendor == "postgresql":
            matches, params = "= ANY(%s)", [pks, self.identifier]
        else:
            matches, params = f"IN ({', '.join(['%s'] * len(pks))})", [*pks, self.identifier]
        sql = f"DELETE FROM {quote(meta.db_table)} WHERE {pk} {matches} AND {quote('locked_by')} = %s"
        with connection.cursor() as cursor:
            if connection.features.can_return_rows_from_bulk_insert:
                # PostgreSQL, SQLite 3.35+ and MariaDB 10.5+ name the deleted rows.
                cursor.execute(f"{sql} RETURNING {pk}", params)
                return {row[0] for row in cursor.fetchall()}
            cursor.execute(sql, params)
            count = cursor.rowcount
        # MySQL only counts them. After a shortfall, the rows still present belong to
        # another worker. A row that someone else deleted looks like one of ours,
        # unless the batch had one row.
        if count == len(pks):
            return set(pks)
        if len(pks) == 1:
            return set()
        present = DelayedJob.objects.using(self.using).filter(pk__in=pks).values_list("pk", flat=True)
        return set(pks) - set(present)

    def _mine(self, row: DelayedJob):
        return DelayedJob.objects.using(self.using).filter(pk=row.pk, locked_by=self.identifier)

    def _succeeded(self, row: DelayedJob) -> None:
        if row.pk not in self._delete_mine([row.pk]):
            log.lock_lost(row.pk, row.job_id, self.identifier, "delete")

    def _failed(self, row: DelayedJob, execution: Execution, last_error: str | None = None) -> None:
        now = self.now()
        attempts = row.attempts + 1
        max_attempts = self.max_attempts_of(row, execution)
        if last_error is None:
            last_error = format_error(execution.error, self.max_error_bytes)

        if execution.permanent or attempts >= max_attempts:
            reason = "its payload can't be loaded" if execution.permanent else "max_attempts reached"
            self._give_up(row, attempts, last_error, now, reason)
            return

        run_at = row.run_at if execution.retry_now else now + retry_delay(attempts)
        updated = self._mine(row).update(
            attempts=attempts, last_error=last_error, run_at=run_at,
            locked_at=None, locked_by=None, lock_expires_at=None, updated_at=now,
        )
        if updated:
            log.job_rescheduled(row.pk, row.job_id, row.job_class, attempts, max_attempts, run_at)
        else:
            log.lock_lost(row.pk, row.job_id, self.identifier, "reschedule")

    def _give_up(self, row: DelayedJob, attempts: int, last_error: str,
                 now: datetime.datetime, reason: str) -> None:
        if self.destroy_failed_jobs:
            changed, _ = self._mine(row).delete()
        else:
            changed = self._mine(row).update(
                attempts=attempts, last_error=last_error, failed_at=now,
                locked_at=None, locked_by=None, lock_expires_at=None, updated_at=now,
            )
        if changed:
            log.job_given_up(row.pk, row.job_id, row.job_class, attempts, self.destroy_failed_jobs, reason)
        else:
            log.lock_lost(row.pk, row.job_id, self.identifier, "mark failed")

    def abandon(self, row: DelayedJob) -> None:
        """Give up on a row whose attempts were used up by workers that died running it."""
        try:
            self._give_up(row, row.attempts, row.last_error or "", self.now(), "its workers kept dying")
        except Error as exc:
            log.outcome_write_failed(row.pk, row.job_id, exc)

    def max_attempts_of(self, row: DelayedJob, execution: Execution | None = None) -> int:
        """Return the row's max_attempts: its class's, copied at enqueue, or the setting."""
        job = execution.job if execution is not None else None
        if job is not None and type(job).max_attempts is not None:
            return type(job).max_attempts
        return row.max_attempts or self.max_attempts

    def _drop_broken_connection(self) -> None:
        """Close the connection if the server dropped it, so the next write reconnects."""
        connection = connections[self.using]
        if connection.connection is None or connection.in_atomic_block:
            return
        try:
            usable = connection.is_usable()
        except Error:
            usable = False
        if not usable:
            try:
                connection.close()
            except Error:
                connection.connection = None

    def _fallback(self, row: DelayedJob, execution: Execution) -> bool:
        # The usual cause is an error text the column can't take, such as an
        # emoji in a MySQL utf8mb3 table. Retry with a short, escaped one.
        error = execution.error or RuntimeError("the row could not be deleted after success")
        short_error = escape_non_bmp(format_error(error, 4096))
        try:
            if execution.error is None:
                self._succeeded(row)
            else:
                self._failed(row, execution, last_error=short_error)
            return True
        except Error as exc:
            log.outcome_write_failed(row.pk, row.job_id, exc)
        if execution.error is None:
            # Unlocking would run a performed job again; keep the lock and retry the delete.
            return False
        try:
            self._mine(row).update(locked_at=None, locked_by=None, lock_expires_at=None)
        except Error as exc:
            log.outcome_write_failed(row.pk, row.job_id, exc)
            return False
        return True
