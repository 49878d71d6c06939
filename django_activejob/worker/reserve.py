"""Reserve ready rows for one worker, and release the ones it won't run.

On PostgreSQL and MySQL/MariaDB the candidates are locked with
``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent workers take disjoint
rows without waiting on each other. SQLite has no row locks: the reserve
runs in a ``BEGIN IMMEDIATE`` transaction, which takes the database's write
lock before reading, so two workers can't read the same candidates.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from django.db.models import Case, Q, QuerySet, Value, When

from ..models import DelayedJob, PausedQueue
from .recovery import lost_error


@dataclass(frozen=True)
class ReserveFilter:
    """The filter on the rows a worker may take: queues and a priority range."""

    queues: tuple[str, ...] | None = None
    min_priority: int | None = None
    max_priority: int | None = None


#: Seconds added to every lock beyond max_run_time and the interrupt grace,
#: for clock differences between hosts.
LOCK_EXPIRY_MARGIN = 5.0


def lock_duration(
    row_max_run_time: float | None, max_run_time: float, interrupt_grace: float
) -> datetime.timedelta:
    """Return how long a reserved row stays locked.

    It is longer than the worker can hold the job: the watchdog interrupts
    the job at max_run_time and ends the process ``interrupt_grace`` seconds
    later if the job doesn't stop.
    """
    seconds = (row_max_run_time or max_run_time) + interrupt_grace + LOCK_EXPIRY_MARGIN
    return datetime.timedelta(seconds=seconds)


def lock_expiries(rows: list[DelayedJob], now: datetime.datetime, max_run_time: float,
                  interrupt_grace: float) -> list[datetime.datetime]:
    """Return when the lock of each reserved row expires, for rows in run order.

    A row waits for the rows before it in the batch, so its lock covers
    their time limits too: the k-th row's lock lasts the sum of the first k
    rows' max_run_time plus grace. A worker that dies is noticed by its
    heartbeat long before such a lock expires.
    """
    expiries, seconds = [], LOCK_EXPIRY_MARGIN
    for row in rows:
        seconds += (row.max_run_time or max_run_time) + interrupt_grace
        expiries.append(now + datetime.timedelta(seconds=seconds))
    return expiries


def reserve(
    *,
    identifier: str,
    using: str,
    limit: int,
    now: datetime.datetime,
    max_run_time: float,
    interrupt_grace: float,
    only: ReserveFilter,
) -> list[DelayedJob]:
    """Lock up to ``limit`` ready rows for ``identifier`` and return them in run order.

    Ready means not failed, ``run_at`` reached, and either unlocked or
    locked past its ``lock_expires_at`` (its worker hung or lost the row).
    The order is priority (lowest first), then run_at, then id.

    Taking over an expired lock counts as an attempt and records the lost
    worker in last_error, so a job that kills its worker every time ends up
    failed instead of running forever. Locks of workers whose heartbeat
    stopped are released sooner, by recovery.
    """
    # Rows locked before lock_expires_at existed expire after the global limit.
    legacy_expired = now - lock_duration(None, max_run_time, interrupt_grace)
    connection = connections[using]
    if connection.vendor == "postgresql":
        rows = _reserve_in_one_statement(
            identifier=identifier, using=using, limit=limit, now=now, legacy_expired=legacy_expired,
            grace=interrupt_grace, max_run_time=max_run_time, only=only,
        )
        for row in rows:
            if row.locked_at is not None:
                _count_lost_attempt(row, using, now)
    else:
        candidates = _candidates(using, only, now, legacy_expired)
        with _reserve_transaction(using):
            if connection.features.has_select_for_update_skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            rows = list(candidates[:limit])
            if rows:
                expiries = lock_expiries(rows, now, max_run_time, interrupt_grace)
                pairs = zip(rows, expiries, strict=True)
                each_row = [When(pk=row.pk, then=Value(expiry)) for row, expiry in pairs]
                DelayedJob.objects.using(using).filter(pk__in=[row.pk for row in rows]).update(
                    locked_at=now, locked_by=identifier, updated_at=now, lock_expires_at=Case(*each_row),
                )
            for row in rows:
                if row.locked_at is not None:
                    _count_lost_attempt(row, using, now)

    for row, expiry in zip(rows, lock_expiries(rows, now, max_run_time, interrupt_grace), strict=True):
        row.locked_at, row.locked_by, row.lock_expires_at = now, identifier, expiry
    return rows


def _candidates(using: str, only: ReserveFilter, now: datetime.datetime,
                legacy_expired: datetime.datetime) -> QuerySet[DelayedJob]:
    """Return the ready rows that ``only`` admits, in run order."""
    candidates = (
        DelayedJob.objects.using(using)
        .filter(failed_at__isnull=True, run_at__lte=now)
        .filter(
            Q(locked_at__isnull=True)
            | Q(lock_expires_at__lt=now)
            | Q(lock_expires_at__isnull=True, locked_at__lt=legacy_expired)
        )
        .order_by("priority", "run_at", "id")
    )
    # Paused queues wait, whatever queues the worker takes.
    candidates = candidates.exclude(queue__in=PausedQueue.objects.using(using).values("queue"))
    if only.queues is not None:
        candidates = candidates.in_queues(list(only.queues))
    if only.min_priority is not None:
        candidates = candidates.filter(priority__gte=only.min_priority)
    if only.max_priority is not None:
        candidates = candidates.filter(priority__lte=only.max_priority)
    return candidates


#: Stand-ins for the reserve time and the legacy expiry while Django compiles the
#: PostgreSQL statement once; each reserve puts its own times in their places.
_NOW = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_LEGACY_EXPIRED = datetime.datetime(2000, 1, 2, tzinfo=datetime.UTC)


@functools.lru_cache(maxsize=64)
def _reserve_statement(using: str, only: ReserveFilter) -> tuple[str, tuple[Any, ...]]:
    """Return the PostgreSQL reserve statement and its parameters, with _NOW and _LEGACY_EXPIRED in them.

    The statement is the same for every reserve of a worker, so Django
    compiles it once instead of at each reserve.
    """
    meta = DelayedJob._meta
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    pk = quote(meta.pk.column)
    old = ("locked_at", "locked_by", "lock_expires_at")
    # Django compiles the filter and order; the limit and the row locks go on the same SELECT.
    picked = _candidates(using, only, _NOW, _LEGACY_EXPIRED).values(
        meta.pk.attname, "priority", "run_at", "max_run_time", *old
    )
    picked_sql, picked_params = picked.query.get_compiler(using).as_sql()
    found = {id(value) for value in picked_params}
    if id(_NOW) not in found or id(_LEGACY_EXPIRED) not in found:
        raise RuntimeError("The reserve statement lost its time parameters; this Django version adapts them.")
    # In the model's field order, which from_db() expects; the lock columns as they were before.
    sources = [("picked" if field.attname in old else table, field.column) for field in meta.concrete_fields]
    returning = ", ".join(f"{source}.{quote(column)}" for source, column in sources)
    # Each lock covers the time limits of the rows before it in the batch, as in lock_expiries().
    run_order = f"{quote('priority')}, {quote('run_at')}, {pk}"
    sql = (
        f"WITH picked AS ({picked_sql} LIMIT %s FOR UPDATE SKIP LOCKED), "
        f"ranked AS (SELECT {pk}, SUM(COALESCE({quote('max_run_time')}, %s) + %s) "
        f"OVER (ORDER BY {run_order}) AS seconds FROM picked) "
        f"UPDATE {table} SET {quote('locked_at')} = %s, {quote('locked_by')} = %s, "
        f"{quote('updated_at')} = %s, "
        f"{quote('lock_expires_at')} = %s + make_interval(secs => ranked.seconds + %s) "
        f"FROM picked JOIN ranked ON ranked.{pk} = picked.{pk} "
        f"WHERE {table}.{pk} = picked.{pk} RETURNING {returning}"
    )
    return sql, tuple(picked_params)


def _reserve_in_one_statement(*, identifier: str, using: str, limit: int, now: datetime.datetime,
                              legacy_expired: datetime.datetime, grace: float, max_run_time: float,
                              only: ReserveFilter) -> list[DelayedJob]:
    """Lock up to ``limit`` rows with one UPDATE ... RETURNING on PostgreSQL; one round trip, no transaction.

    The returned rows carry the lock they had before (locked_at, locked_by,
    lock_expires_at), so the caller can count a takeover as an attempt.
    """
    sql, picked_params = _reserve_statement(using, only)
    stand_ins = {id(_NOW): now, id(_LEGACY_EXPIRED): legacy_expired}
    picked = [stand_ins.get(id(value), value) for value in picked_params]
    params = (*picked, limit, max_run_time, grace, now, identifier, now, now, LOCK_EXPIRY_MARGIN)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        results = cursor.fetchall()
    meta = DelayedJob._meta
    names = [field.attname for field in meta.concrete_fields]
    rows = [DelayedJob.from_db(using, names, values) for values in results]
    rows.sort(key=lambda row: (row.priority, row.run_at, row.pk))
    return rows


def _count_lost_attempt(row: DelayedJob, using: str, now: datetime.datetime) -> None:
    row.attempts += 1
    row.last_error = lost_error(
        row.locked_by, row.locked_at,
        f"its lock expired at {row.lock_expires_at.isoformat() if row.lock_expires_at else 'max_run_time'}",
    )
    DelayedJob.objects.using(using).filter(pk=row.pk).update(
        attempts=row.attempts, last_error=row.last_error, updated_at=now
    )


def release(*, identifier: str, using: str, rows: list[DelayedJob]) -> int:
    """Unlock rows this worker reserved but did not start; return how many it unlocked."""
    if not rows:
        return 0
    return (
        DelayedJob.objects.using(using)
        .filter(pk__in=[row.pk for row in rows], locked_by=identifier)
        .update(locked_at=None, locked_by=None, lock_expires_at=None)
    )


@contextlib.contextmanager
def _reserve_transaction(using: str) -> Iterator[None]:
    connection = connections[using]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic(using=using):
            yield
        return

    # Django's atomic() opens a deferred transaction on SQLite, whose
    # read-then-write upgrade can fail at once with "database is locked"
    # instead of waiting for the busy timeout. BEGIN IMMEDIATE waits.
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with connection.cursor() as cursor:
            cursor.execute("ROLLBACK")
        raise
    with connection.cursor() as cursor:
        cursor.execute("COMMIT")
