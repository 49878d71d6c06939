"""A worker's WorkerProcess row: register it, keep its heartbeat fresh, delete it at exit.

The heartbeat runs in its own thread with its own database connection, so a
long job doesn't stop it. After each heartbeat the thread also releases the
jobs of dead workers (see recovery), so every live worker takes part in
recovering from crashes.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
from collections.abc import Callable

from django.db import Error, IntegrityError, connections, transaction

from .. import log
from ..models import WorkerProcess
from .recovery import recover_lost_jobs, release_own_locks
from .stats import QueueTally, prune_stats

#: How long the rows of dead workers stay, for the admin, before a live worker deletes them.
DEAD_WORKER_RETENTION = datetime.timedelta(days=1)


def prune_dead_workers(using: str, now: datetime.datetime) -> int:
    """Delete worker rows whose last heartbeat is older than DEAD_WORKER_RETENTION.

    Their jobs stay recoverable: recovery treats a lock without a live
    worker row the same as one with a dead row.
    """
    expired = WorkerProcess.objects.using(using).filter(heartbeat_at__lt=now - DEAD_WORKER_RETENTION)
    deleted, _ = expired.delete()
    return deleted


class WorkerConflictError(Exception):
    """Another live process already works under this identifier."""


def process_exists(pid: int) -> bool:
    """Return True if a process with ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Registration:
    """The WorkerProcess row of one worker."""

    def __init__(self, *, identifier: str, using: str, queues: list[str] | None, supervisor: str,
                 heartbeat_timeout: datetime.timedelta, max_attempts: int, destroy_failed_jobs: bool,
                 now: Callable[[], datetime.datetime]) -> None:
        self.identifier = identifier
        self.using = using
        self.queues = ",".join(queues) if queues else "*"
        self.supervisor = supervisor
        self.heartbeat_timeout = heartbeat_timeout
        self.max_attempts = max_attempts
        self.destroy_failed_jobs = destroy_failed_jobs
        self.now = now
        self.hostname = socket.gethostname()[:255]

    def register(self) -> None:
        """Insert or take over the row; raise WorkerConflictError if its owner is alive.

        Taking over the row of a process that died releases the jobs it had
        locked, counting the lost attempt.
        """
        now = self.now()
        try:
            with transaction.atomic(using=self.using):
                existing = (
                    WorkerProcess.objects.using(self.using)
                    .select_for_update().filter(identifier=self.identifier).first()
                )
                if existing is not None:
                    self._check_owner_dead(existing, now)
                    existing.delete()
                WorkerProcess.objects.using(self.using).create(
                    identifier=self.identifier, hostname=self.hostname, pid=os.getpid(),
                    queues=self.queues, supervisor=self.supervisor, started_at=now, heartbeat_at=now,
                )
        except IntegrityError:
            raise WorkerConflictError(
                f"Another worker registered the identifier {self.identifier!r} at the same moment; "
                f"give each worker its own --identifier."
            ) from None

        released = release_own_locks(
            using=self.using, identifier=self.identifier, now=now,
            max_attempts=self.max_attempts, destroy_failed_jobs=self.destroy_failed_jobs,
        )
        if released:
            log.own_locks_released(self.identifier, released)

    def _check_owner_dead(self, existing: WorkerProcess, now: datetime.datetime) -> None:
        if existing.pid == os.getpid() and existing.hostname == self.hostname:
            return
        if existing.hostname == self.hostname:
            if process_exists(existing.pid):
                raise WorkerConflictError(
                    f"A worker with the identifier {self.identifier!r} is already running as pid "
                    f"{existing.pid} on this host. Stop it first, or give this worker another --identifier."
                )
            return
        age = (now - existing.heartbeat_at).total_seconds()
        if age < self.heartbeat_timeout.total_seconds():
            raise WorkerConflictError(
                f"A worker with the identifier {self.identifier!r} is running as pid {existing.pid} on "
                f"host {existing.hostname!r} (last heartbeat {age:.0f} s ago). Stop it first, give this "
                f"worker another --identifier, or wait until its heartbeat is older than "
                f"{self.heartbeat_timeout.total_seconds():g} s if that host is gone."
            )

    def beat(self) -> None:
        """Refresh the heartbeat; re-create the row if someone deleted it."""
        now = self.now()
        updated = (
            WorkerProcess.objects.using(self.using)
            .filter(identifier=self.identifier, pid=os.getpid(), hostname=self.hostname)
            .update(heartbeat_at=now)
        )
        if updated:
            return
        log.worker_row_missing(self.identifier)
        WorkerProcess.objects.using(self.using).update_or_create(
            identifier=self.identifier,
            defaults={"hostname": self.hostname, "pid": os.getpid(), "queues": self.queues,
                      "supervisor": self.supervisor, "started_at": now, "heartbeat_at": now},
        )

    def deregister(self) -> None:
        """Delete the row, unless another process has taken the identifier over."""
        try:
            WorkerProcess.objects.using(self.using).filter(
                identifier=self.identifier, pid=os.getpid(), hostname=self.hostname
            ).delete()
        except Error as exc:
            log.heartbeat_failed(self.identifier, exc)


class HeartbeatThread(threading.Thread):
    """Refresh the heartbeat every ``interval`` seconds and recover dead workers' jobs.

    When heartbeats have failed for so long that other workers may count
    this one as dead, ``on_presumed_dead`` is called once, so the worker can
    stop the job that they may already have released.
    """

    def __init__(self, registration: Registration, interval: float,
                 on_presumed_dead: Callable[[float], None] | None = None,
                 tally: QueueTally | None = None) -> None:
        super().__init__(name=f"heartbeat {registration.identifier}", daemon=True)
        self.registration = registration
        self.interval = interval
        self.on_presumed_dead = on_presumed_dead
        self.tally = tally
        self._stopped = threading.Event()
        self._last_beat = time.monotonic()
        self._presumed_dead = False
        # Since when every heartbeat got through; None after a failed one.
        self._healthy_since: float | None = None

    def run(self) -> None:
        try:
            self.beat_once()
            while not self._stopped.wait(self.interval):
                self.beat_once()
        finally:
            connections.close_all()

    def beat_once(self) -> None:
        """Send one heartbeat, then release the jobs of dead workers; log instead of raising."""
        registration = self.registration
        try:
            registration.beat()
            self._last_beat = time.monotonic()
            self._presumed_dead = False
            if self._healthy_since is None:
                self._healthy_since = self._last_beat
            if self.tally is not None:
                self.tally.flush(registration.using)
            if not self._may_recover():
                return
            released = recover_lost_jobs(
                using=registration.using, now=registration.now(),
                heartbeat_timeout=registration.heartbeat_timeout,
                max_attempts=registration.max_attempts,
                destroy_failed_jobs=registration.destroy_failed_jobs,
                recovered_by=registration.identifier,
            )
            pruned = prune_dead_workers(registration.using, registration.now())
            prune_stats(registration.using, registration.now())
        except Error as exc:
            self._healthy_since = None
            log.heartbeat_failed(registration.identifier, exc)
            self._close_connection()
            self._check_presumed_dead()
            return
        if released:
            log.lost_jobs_recovered(registration.identifier, released)
        if pruned:
            log.dead_workers_pruned(registration.identifier, pruned)

    def _may_recover(self) -> bool:
        """Return True once this worker's heartbeats have got through for two intervals in a row.

        After an outage that every worker saw, the others need up to one
        interval to write a heartbeat again; until then they look dead.
        """
        return time.monotonic() - self._healthy_since >= 2 * self.interval

    def _check_presumed_dead(self) -> None:
        # Other workers release this one's jobs once its last heartbeat is
        # HEARTBEAT_TIMEOUT old; stop one interval before that.
        silent = time.monotonic() - self._last_beat
        limit = self.registration.heartbeat_timeout.total_seconds() - self.interval
        if silent >= limit and not self._presumed_dead and self.on_presumed_dead is not None:
            self._presumed_dead = True
            self.on_presumed_dead(silent)

    def _close_connection(self) -> None:
        try:
            connections[self.registration.using].close()
        except Error:
            pass

    def stop(self) -> None:
        self._stopped.set()
