"""The worker loop: reserve, perform, record, sleep when idle, stop on a signal."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from .. import conf, log
from ..models import DelayedJob
from .errors import exception_name
from .execution import Execution, execute
from .outcome import OutcomeRecorder
from .reserve import ReserveFilter, release, reserve

#: Backoff after a failed reserve: doubles from the first value up to the cap.
RESERVE_BACKOFF_START = 1.0
RESERVE_BACKOFF_CAP = 60.0

#: Exclusive upper bound on sleep_delay: one day, far below what a timed wait accepts.
MAX_SLEEP_DELAY = 86400.0


#: The size of the locked_by column that stores the identifier.
MAX_IDENTIFIER_LENGTH = 255


def validate_identifier(identifier: str) -> str:
    """Return ``identifier`` if it fits the locked_by column, else raise ValueError."""
    if not identifier.strip():
        raise ValueError("the identifier is empty: pass a name such as 'mail_1'.")
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(
            f"the identifier is {len(identifier)} characters long; the maximum is "
            f"{MAX_IDENTIFIER_LENGTH}, the size of the locked_by column."
        )
    return identifier


def default_identifier() -> str:
    """Return delayed_job's default worker name, ``host:<hostname> pid:<pid>``.

    An extremely long hostname is cut so the name fits the locked_by column.
    """
    suffix = f" pid:{os.getpid()}"
    return f"host:{socket.gethostname()}"[: MAX_IDENTIFIER_LENGTH - len(suffix)] + suffix


@dataclass
class WorkerOptions:
    """Options of one worker: the jobs it takes and how it polls. None means the ACTIVEJOB setting."""

    queues: list[str] | None = None
    identifier: str = field(default_factory=default_identifier)
    min_priority: int | None = None
    max_priority: int | None = None
    sleep_delay: float | None = None
    read_ahead: int | None = None
    exit_on_complete: bool = False
    database: str | None = None


class ForcedStop(BaseException):
    """Raised inside a running job when a second stop signal arrives.

    A BaseException, so a job's ``except Exception`` doesn't swallow it.
    """


class Worker:
    """Perform jobs from the DelayedJob table until stopped.

    ``now`` is the clock used for reserving and rescheduling, injectable
    for tests.
    """

    def __init__(self, options: WorkerOptions, now: Callable[[], datetime.datetime] = timezone.now) -> None:
        self.options = options
        self.identifier = validate_identifier(options.identifier)
        self.using = options.database or conf.get("DATABASE")
        self.sleep_delay = options.sleep_delay if options.sleep_delay is not None else conf.get("SLEEP_DELAY")
        self.read_ahead = options.read_ahead if options.read_ahead is not None else conf.get("READ_AHEAD")
        self.max_run_time = datetime.timedelta(seconds=conf.get("MAX_RUN_TIME"))
        self.only = ReserveFilter(
            queues=tuple(options.queues) if options.queues else None,
            min_priority=options.min_priority,
            max_priority=options.max_priority,
        )
        self.now = now
        self.recorder = OutcomeRecorder(
            identifier=self.identifier,
            using=self.using,
            max_attempts=conf.get("MAX_ATTEMPTS"),
            destroy_failed_jobs=conf.get("DESTROY_FAILED_JOBS"),
            max_error_bytes=conf.get("MAX_ERROR_BYTES"),
            now=now,
        )
        self.performed = 0
        self.failed = 0
        self.stopping = False
        self.forced = False
        self._running_job = False
        self._wakeup = threading.Event()

    # Running

    def run(self) -> int:
        """Work until stopped or, with exit_on_complete, until no job is ready.

        Returns the process exit status: 0 after a graceful stop, 1 after a
        forced one.
        """
        self._install_signal_handlers()
        log.worker_started(
            self.identifier, self.options.queues, self.using, connections[self.using].vendor,
            min_priority=self.only.min_priority, max_priority=self.only.max_priority,
            sleep_delay=self.sleep_delay, read_ahead=self.read_ahead,
        )
        backoff = RESERVE_BACKOFF_START

        while not self.stopping:
            # Drop connections that the server closed while the worker slept.
            close_old_connections()
            try:
                rows = self._reserve()
            except DatabaseError as exc:
                log.reserve_failed(self.identifier, exc, backoff)
                self._close_connection()
                self._sleep(backoff)
                backoff = min(backoff * 2, RESERVE_BACKOFF_CAP)
                continue
            backoff = RESERVE_BACKOFF_START

            if rows:
                self.work(rows)
            elif self.options.exit_on_complete:
                log.worker_no_jobs(self.identifier)
                break
            else:
                self._sleep(self.sleep_delay)

        log.worker_stopped(self.identifier, self.performed, self.failed)
        return 1 if self.forced else 0

    def work_off(self) -> None:
        """Perform every ready job, then return; for tests and one-off runs."""
        while not self.stopping:
            rows = self._reserve()
            if not rows:
                return
            self.work(rows)

    def _reserve(self) -> list[DelayedJob]:
        return reserve(
            identifier=self.identifier, using=self.using, limit=self.read_ahead,
            now=self.now(), max_run_time=self.max_run_time, only=self.only,
        )

    def work(self, rows: list[DelayedJob]) -> None:
        """Perform reserved rows in order; release the rest when asked to stop."""
        for index, row in enumerate(rows):
            if self.stopping:
                self._release(rows[index:])
                return
            if row.attempts >= self.recorder.max_attempts:
                # Lost workers used up the attempts (see reserve); don't run it again.
                self.recorder.abandon(row)
                self.failed += 1
                continue
            try:
                execution = self._execute(row)
            except ForcedStop:
                self._record_forced_stop(row)
                self._release(rows[index + 1:])
                return
            self.recorder.record(row, execution)
            if execution.error is None:
                self.performed += 1
            else:
                self.failed += 1
            close_old_connections()

    def _execute(self, row: DelayedJob) -> Execution:
        self._running_job = True
        try:
            return execute(row)
        finally:
            self._running_job = False

    def _record_forced_stop(self, row: DelayedJob) -> None:
        # The interrupted attempt counts, so a job that hangs every time ends
        # up failed; run_at stays, so another worker may take it at once.
        error = ForcedStopError(f"Worker {self.identifier} was stopped by a second signal while the job ran.")
        self.failed += 1
        attempts = row.attempts + 1
        try:
            if attempts >= self.recorder.max_attempts:
                self.recorder.record(row, Execution(job=None, error=error))
                return
            DelayedJob.objects.using(self.using).filter(pk=row.pk, locked_by=self.identifier).update(
                attempts=attempts, last_error=f"{exception_name(error)}: {error}",
                locked_at=None, locked_by=None,
                updated_at=self.now(),
            )
        except DatabaseError as exc:
            log.outcome_write_failed(row.pk, row.job_id, exc)

    def _release(self, rows: list[DelayedJob]) -> None:
        try:
            count = release(identifier=self.identifier, using=self.using, rows=rows)
        except DatabaseError as exc:
            log.outcome_write_failed(rows[0].pk, rows[0].job_id, exc)
            return
        if count:
            log.released(self.identifier, count)

    def _close_connection(self) -> None:
        try:
            connections[self.using].close()
        except DatabaseError:
            pass

    def _sleep(self, seconds: float) -> None:
        self._wakeup.wait(seconds)
        self._wakeup.clear()

    # Signals

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.stopping:
            self.stopping = True
            # Event.set() takes a lock that the interrupted main thread may
            # hold inside Event.wait() or clear(), so set it from a thread.
            threading.Thread(target=self._wakeup.set, daemon=True).start()
            log.worker_stopping(self.identifier, name)
            return
        log.worker_forced_stop(self.identifier, name)
        self.forced = True
        if self._running_job:
            raise ForcedStop()

    def stop(self) -> None:
        """Ask the worker to stop after the running job; safe from any thread."""
        self.stopping = True
        self._wakeup.set()


class ForcedStopError(Exception):
    """The last_error of a job interrupted by a forced stop."""
