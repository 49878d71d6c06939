"""The worker loop: reserve, perform, record, sleep when idle, stop on a signal."""

from __future__ import annotations

import datetime
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from django.db import DatabaseError, Error, connections
from django.utils import timezone

from .. import conf, log
from ..models import DelayedJob
from .batching import BatchSize
from .execution import Execution, execute
from .heartbeat import HeartbeatThread, Registration
from .outcome import OutcomeRecorder
from .reserve import ReserveFilter, release, reserve
from .stats import QueueTally
from .wakeup import Waker
from .watchdog import EXIT_JOB_WOULD_NOT_STOP, ForcedStop, JobTimeout, Watchdog

#: Backoff after a failed reserve: doubles from the first value up to the cap.
#: The cap bounds how long jobs wait after the database comes back.
RESERVE_BACKOFF_START = 1.0
RESERVE_BACKOFF_CAP = 5.0

#: Seconds a stopping worker waits for a heartbeat in progress before it deletes its row.
HEARTBEAT_JOIN_TIMEOUT = 10.0

#: Seconds after the interrupt grace that a forced stop waits before it ends a stuck process.
FORCED_EXIT_MARGIN = 5.0

#: Seconds the delete of a performed row may wait to share one statement with
#: the rows performed after it. The wait only happens while the worker's jobs
#: take less than this on average. After slower jobs, and before the worker
#: has timed any job, each row goes before the next job starts. A
#: worker killed in the wait leaves its rows locked, and their jobs run again
#: once another worker recovers them, as after any crash (at-least-once).
PERFORMED_FLUSH_DELAY = 0.05

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
    #: "host:pid" of the supervisor that forked this worker, shown in the admin.
    supervisor: str = ""


class Worker:
    """Perform jobs from the DelayedJob table until stopped.

    ``now`` is the clock used for reserving and rescheduling, and
    ``exit_process`` ends the process when a job won't stop; both are
    injectable for tests.
    """

    def __init__(self, options: WorkerOptions, now: Callable[[], datetime.datetime] = timezone.now,
                 exit_process: Callable[[int], None] = os._exit) -> None:
        self.options = options
        self.identifier = validate_identifier(options.identifier)
        self.using = options.database or conf.get("DATABASE")
        self.sleep_delay = options.sleep_delay if options.sleep_delay is not None else conf.get("SLEEP_DELAY")
        self.read_ahead = options.read_ahead if options.read_ahead is not None else conf.get("READ_AHEAD")
        self.batch_size = BatchSize(self.read_ahead)
        self.max_run_time = float(conf.get("MAX_RUN_TIME"))
        self.interrupt_grace = float(conf.get("INTERRUPT_GRACE"))
        self.shutdown_timeout = float(conf.get("SHUTDOWN_TIMEOUT"))
        self.only = ReserveFilter(
            queues=tuple(options.queues) if options.queues else None,
            min_priority=options.min_priority,
            max_priority=options.max_priority,
        )
        self.now = now
        self.exit_process = exit_process
        self.recorder = OutcomeRecorder(
            identifier=self.identifier,
            using=self.using,
            max_attempts=conf.get("MAX_ATTEMPTS"),
            destroy_failed_jobs=conf.get("DESTROY_FAILED_JOBS"),
            max_error_bytes=conf.get("MAX_ERROR_BYTES"),
            now=now,
        )
        self.registration = Registration(
            identifier=self.identifier, using=self.using, queues=options.queues,
            supervisor=options.supervisor,
            heartbeat_timeout=datetime.timedelta(seconds=conf.get("HEARTBEAT_TIMEOUT")),
            max_attempts=conf.get("MAX_ATTEMPTS"), destroy_failed_jobs=conf.get("DESTROY_FAILED_JOBS"),
            now=now,
        )
        self.performed = 0
        self.failed = 0
        self.stopping = False
        self.forced = False
        # Stop signals received; stop requests from a supervisor's pipe don't count.
        self._signals = 0
        self._exit_timer: threading.Timer | None = None
        self._finished = False
        #: Executions per queue and minute, written to QueueStat by the heartbeat thread.
        self.tally = QueueTally()
        #: Outcomes that could not be written while the database was unreachable.
        self.unrecorded: list[tuple[DelayedJob, Execution]] = []
        #: Rows of jobs that succeeded, still locked, waiting to be deleted in one statement.
        self.performed_rows: list[DelayedJob] = []
        self._performed_since = 0.0
        self.waker = Waker(using=self.using, queues=options.queues, listen=conf.get("LISTEN_NOTIFY"),
                           identifier=self.identifier)
        self.watchdog = self._new_watchdog()
        # The row being performed and the reserved rows after it, for the watchdog.
        self._current: DelayedJob | None = None
        self._waiting: list[DelayedJob] = []

    def _new_watchdog(self) -> Watchdog:
        return Watchdog(grace=self.interrupt_grace, give_up=self._give_up, exit_process=self._exit_hung)

    def _start_watchdog(self) -> None:
        if self.watchdog.ident is not None:
            # Each run gets a new thread; a Thread starts only once.
            self.watchdog = self._new_watchdog()
        self.watchdog.start()

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        self.watchdog.on_alarm(signum, frame)

    # Running

    def run(self) -> int:
        """Work until stopped or, with exit_on_complete, until no job is ready.

        Returns the process exit status: 0 after a graceful stop, 1 after a
        forced one.
        """
        previous_handlers = self._install_signal_handlers()
        log.worker_started(
            self.identifier, self.options.queues, self.using, connections[self.using].vendor,
            min_priority=self.only.min_priority, max_priority=self.only.max_priority,
            sleep_delay=self.sleep_delay, read_ahead=self.read_ahead,
        )
        try:
            self._use_wal_on_sqlite()
            if self._register_until_done():
                self._run_registered()
        finally:
            self._finished = True
            self._restore_signal_handlers(previous_handlers)
        log.worker_stopped(self.identifier, self.performed, self.failed)
        return 1 if self.forced else 0

    def _run_registered(self) -> None:
        heartbeat = HeartbeatThread(self.registration, conf.get("HEARTBEAT_INTERVAL"),
                                    on_presumed_dead=self._on_presumed_dead, tally=self.tally)
        heartbeat.start()
        self._start_watchdog()
        self.waker.start()
        try:
            self._loop()
        finally:
            heartbeat.stop()
            self.watchdog.close()
            self.waker.close()
            self._flush_unrecorded()
            # A beat in progress would create the row again after the delete.
            heartbeat.join(timeout=HEARTBEAT_JOIN_TIMEOUT)
            self._flush_tally()
            self.registration.deregister()

    def _loop(self) -> None:
        backoff = RESERVE_BACKOFF_START
        reconnected = False
        while not self.stopping:
            # Drop connections that broke, or that a job left in a changed state.
            self._close_old_connections()
            try:
                self._flush_unrecorded(raise_errors=True)
                rows = self._reserve()
            except Error as exc:
                self._close_connection()
                if not reconnected:
                    # Most often the server dropped an idle connection: retry once at once.
                    reconnected = True
                    log.reconnecting(self.identifier, exc)
                    continue
                log.reserve_failed(self.identifier, exc, backoff)
                self.waker.wait(backoff, reopen_listener=False)
                backoff = min(backoff * 2, RESERVE_BACKOFF_CAP)
                continue
            backoff = RESERVE_BACKOFF_START
            reconnected = False

            if rows:
                started = time.monotonic()
                self.work(rows)
                self.batch_size.record(len(rows), time.monotonic() - started)
            elif self.options.exit_on_complete:
                log.worker_no_jobs(self.identifier)
                break
            else:
                self._sleep(self.sleep_delay)

    def _use_wal_on_sqlite(self) -> None:
        """Switch a file SQLite database to WAL, so readers don't wait for the writer; it persists."""
        connection = connections[self.using]
        if connection.vendor != "sqlite" or connection.is_in_memory_db():
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                if cursor.fetchone()[0].lower() == "wal":
                    return
                cursor.execute("PRAGMA journal_mode=WAL")
                mode = cursor.fetchone()[0]
        except Error as exc:
            log.sqlite_wal_failed(self.identifier, exc)
            return
        log.sqlite_journal_mode(self.identifier, mode)

    def _register_until_done(self) -> bool:
        """Register the worker row, retrying while the database is unreachable; False if stopped first."""
        backoff = RESERVE_BACKOFF_START
        while not self.stopping:
            try:
                self.registration.register()
                return True
            except Error as exc:
                log.reserve_failed(self.identifier, exc, backoff)
                self._close_connection()
                self.waker.wait(backoff, reopen_listener=False)
                backoff = min(backoff * 2, RESERVE_BACKOFF_CAP)
        return False

    def work_off(self) -> None:
        """Perform every ready job, then return; for tests and one-off runs.

        The worker registers its row for the run, but sends no heartbeats and
        enforces max_run_time only when called from the main thread.
        """
        self.registration.register()
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGALRM, self._on_alarm)
        self._start_watchdog()
        try:
            while not self.stopping:
                rows = self._reserve()
                if not rows:
                    return
                started = time.monotonic()
                self.work(rows)
                self.batch_size.record(len(rows), time.monotonic() - started)
        finally:
            self.watchdog.close()
            self.watchdog.join()
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGALRM, previous)
            self._flush_tally()
            self.registration.deregister()

    def _reserve(self) -> list[DelayedJob]:
        return reserve(
            identifier=self.identifier, using=self.using, limit=self.batch_size.next(),
            now=self.now(), max_run_time=self.max_run_time, interrupt_grace=self.interrupt_grace,
            only=self.only,
        )

    def work(self, rows: list[DelayedJob]) -> None:
        """Perform reserved rows in order; release the rest when asked to stop.

        The rows of jobs that succeed are deleted together at the end of the
        batch, or earlier as PERFORMED_FLUSH_DELAY describes.
        """
        try:
            self._work(rows)
        finally:
            self._flush_performed()

    def _work(self, rows: list[DelayedJob]) -> None:
        for index, row in enumerate(rows):
            if self.stopping:
                self._release(rows[index:])
                return
            if row.attempts >= self.recorder.max_attempts_of(row):
                # Lost workers used up the attempts (see reserve); don't run it again.
                self.recorder.abandon(row)
                self.failed += 1
                continue
            self._waiting = rows[index + 1:]
            if self.performed_rows and self._performed_rows_due():
                self._flush_performed()
            try:
                execution = self._execute(row)
            except ForcedStop as exc:
                # A stop makes the exit status 1; a presumed death doesn't stop the worker.
                self.forced = self.forced or self.stopping
                self._record_forced_stop(row, str(exc))
                self._release(rows[index + 1:])
                return
            except JobTimeout as exc:
                execution = Execution(job=None, error=JobTimeoutError(str(exc)))
                log.job_timed_out(row.pk, row.job_id, row.job_class, str(exc))
            if execution.error is None:
                self._add_performed(row)
                self.performed += 1
            else:
                self._record(row, execution)
                self.failed += 1
            self.tally.add(row.queue, self.now(), failed=execution.error is not None)
            self._close_old_connections()
        self._waiting = []

    def _execute(self, row: DelayedJob) -> Execution:
        self._current = row
        self.watchdog.job_started(row.max_run_time or self.max_run_time)
        if self.stopping:
            # A stop signal arrived between the check in work() and now.
            self.watchdog.stop_at(self.shutdown_timeout, self._shutdown_reason())
        try:
            return execute(row)
        finally:
            self._end_watch()

    def _end_watch(self) -> None:
        # An interrupt that arrives while the job unwinds is dropped here,
        # so it can't escape into the worker's own code.
        while True:
            try:
                self.watchdog.job_finished()
                break
            except (ForcedStop, JobTimeout):
                continue
        self._current = None

    def _flush_tally(self) -> None:
        try:
            self.tally.flush(self.using)
        except Error as exc:
            log.heartbeat_failed(self.identifier, exc)

    def _add_performed(self, row: DelayedJob) -> None:
        if not self.performed_rows:
            self._performed_since = time.monotonic()
        self.performed_rows.append(row)

    def _performed_rows_due(self) -> bool:
        """Return True if the performed rows should be deleted before the next job starts."""
        typical = self.batch_size.job_seconds
        if typical is None or typical >= PERFORMED_FLUSH_DELAY:
            return True
        return time.monotonic() - self._performed_since >= PERFORMED_FLUSH_DELAY

    def _flush_performed(self) -> None:
        """Delete the rows of succeeded jobs; keep them for a later retry if the database fails."""
        rows, self.performed_rows = self.performed_rows, []
        if rows and not self.recorder.delete_performed(rows):
            self.unrecorded.extend((row, Execution(job=None)) for row in rows)

    def _record(self, row: DelayedJob, execution: Execution) -> None:
        if not self.recorder.record(row, execution):
            self.unrecorded.append((row, execution))

    def _flush_unrecorded(self, raise_errors: bool = False) -> None:
        """Write outcomes that failed earlier; the row stays locked by this worker meanwhile."""
        while self.unrecorded:
            row, execution = self.unrecorded[0]
            if not self.recorder.record(row, execution):
                if raise_errors:
                    raise DatabaseError(f"the outcome of row id={row.pk} could not be recorded yet")
                return
            self.unrecorded.pop(0)

    def _record_forced_stop(self, row: DelayedJob, reason: str = "") -> None:
        # The interrupted attempt counts, so a job that hangs every time ends
        # up failed; run_at stays, so another worker may take it at once.
        error = ForcedStopError(
            f"Worker {self.identifier} stopped the job before it finished: "
            f"{reason or 'a second stop signal arrived'}."
        )
        self.failed += 1
        self.tally.add(row.queue, self.now(), failed=True)
        self._record(row, Execution(job=None, error=error, retry_now=True))

    def _give_up(self, interrupt: type[BaseException], reason: str) -> None:
        """Record the job that won't stop and release the rest; runs in the watchdog thread."""
        row = self._current
        # The main thread is stuck in the job, so this thread writes what it could not.
        self._flush_performed()
        self._release(self._waiting)
        self.registration.deregister()
        if row is not None:
            log.job_would_not_stop(row.pk, row.job_id, row.job_class, reason, self.interrupt_grace)
            log.worker_exiting_hung(self.identifier, EXIT_JOB_WOULD_NOT_STOP)
            # Written last: the job still runs until the process exits, which follows at once.
            if interrupt is JobTimeout:
                self.recorder.record(row, Execution(job=None, error=JobTimeoutError(reason)))
            else:
                self._record_forced_stop(row, reason)

    def _exit_hung(self, status: int) -> None:
        logging.shutdown()
        self.exit_process(status)

    def _release(self, rows: list[DelayedJob]) -> None:
        if not rows:
            return
        try:
            count = release(identifier=self.identifier, using=self.using, rows=rows)
        except Error as exc:
            log.outcome_write_failed(rows[0].pk, rows[0].job_id, exc)
            return
        if count:
            log.released(self.identifier, count)

    def _close_old_connections(self) -> None:
        """Close connections that are broken or that a job left in a changed state.

        Django's close_old_connections() also closes every connection whose
        CONN_MAX_AGE is 0, the default, which would make the worker reconnect
        for each job and each poll. The worker keeps such connections; a
        positive CONN_MAX_AGE still takes effect.
        """
        if connections[self.using].in_atomic_block:
            # A worker driven from a TestCase: closing would break the caller's transaction.
            return
        for connection in connections.all(initialized_only=True):
            if connection.connection is None:
                continue
            if connection.settings_dict["CONN_MAX_AGE"] == 0:
                connection.close_at = None
            connection.close_if_unusable_or_obsolete()

    def _close_connection(self) -> None:
        try:
            connections[self.using].close()
        except Error:
            pass

    def _sleep(self, seconds: float) -> None:
        self.waker.wait(seconds)

    # Signals

    def _install_signal_handlers(self) -> dict[int, object]:
        """Install the stop and alarm handlers; return the previous ones, to restore after the run."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        handlers = {
            signal.SIGTERM: self._on_signal, signal.SIGINT: self._on_signal, signal.SIGALRM: self._on_alarm,
        }
        return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    def _restore_signal_handlers(self, previous: dict[int, object]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self._signals += 1
        if self._signals == 1:
            log.worker_stopping(self.identifier, name, self.shutdown_timeout)
            self.stop()
            return
        log.worker_forced_stop(self.identifier, name)
        self.force_stop()

    def stop(self) -> None:
        """Stop after the running job, or interrupt it after SHUTDOWN_TIMEOUT; safe from any thread."""
        if self.stopping:
            return
        self.stopping = True
        self.waker.wake()
        self.watchdog.stop_at(self.shutdown_timeout, self._shutdown_reason())

    def force_stop(self) -> None:
        """Interrupt the running job now and exit; safe from any thread.

        If the worker is still running well after the interrupt grace (stuck
        in a database call that never returns, say), the process exits.
        """
        self.stopping = True
        self.forced = True
        self.waker.wake()
        self.watchdog.stop_at(0, "a second stop signal arrived")
        if self._exit_timer is None:
            self._exit_timer = threading.Timer(self.interrupt_grace + FORCED_EXIT_MARGIN, self._exit_stuck)
            self._exit_timer.daemon = True
            self._exit_timer.start()

    def _exit_stuck(self) -> None:
        if not self._finished:
            log.worker_exiting_stuck(self.identifier, self.interrupt_grace + FORCED_EXIT_MARGIN)
            logging.shutdown()
            self.exit_process(1)

    def _on_presumed_dead(self, silent: float) -> None:
        """Interrupt the running job: other workers may have released it, since no heartbeat got through."""
        log.heartbeat_lost(self.identifier, silent, self.watchdog.running)
        self.watchdog.interrupt_job(
            f"no heartbeat reached the database for {silent:.0f} s, "
            f"so other workers may have released the job"
        )

    def _shutdown_reason(self) -> str:
        return f"the worker was stopping and the shutdown timeout of {self.shutdown_timeout:g} s passed"


class ForcedStopError(Exception):
    """The last_error of a job interrupted by a forced stop or the shutdown timeout."""


class JobTimeoutError(Exception):
    """The last_error of a job that ran past its max_run_time."""
