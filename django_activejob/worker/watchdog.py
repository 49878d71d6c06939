"""Interrupt a job that runs too long, and end the process when the job won't stop.

The worker performs jobs in its main thread. This thread watches two
deadlines: the running job's max_run_time, and the shutdown timeout after a
stop signal. When one passes, it interrupts the job by raising JobTimeout or
ForcedStop in the main thread, both BaseExceptions, so ``except Exception``
in job code doesn't catch them. It raises again every second, for jobs that
catch everything. If the job is still running ``INTERRUPT_GRACE`` seconds
later, the watchdog records the outcome itself and ends the process with
os._exit(). A row's lock expires only after that time, so another worker
never starts the job while this one still runs it.
"""

from __future__ import annotations

import ctypes
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

#: The process exit status after the watchdog ended a job that would not stop.
EXIT_JOB_WOULD_NOT_STOP = 3

#: Seconds between repeated interrupts of a job that caught the previous one.
REPEAT_INTERRUPT = 1.0


class JobTimeout(BaseException):
    """Raised inside a job that ran past its max_run_time."""


class ForcedStop(BaseException):
    """Raised inside a running job when the worker must stop now.

    That is after a second stop signal, or when the shutdown timeout passes.
    """


@dataclass
class Deadline:
    """When to interrupt the running job, and with what."""

    at: float  # time.monotonic()
    interrupt: type[BaseException]
    reason: str


class Watchdog(threading.Thread):
    """Watch the job that ``target_thread`` runs; see the module docstring.

    ``give_up`` is called from this thread with the interrupt's class and
    reason when the job didn't stop within ``grace`` seconds; it must record
    the outcome.
    The process then exits with EXIT_JOB_WOULD_NOT_STOP.
    """

    def __init__(self, *, grace: float, give_up: Callable[[type[BaseException], str], None],
                 exit_process: Callable[[int], None]) -> None:
        super().__init__(name="job watchdog", daemon=True)
        self.grace = grace
        self.give_up = give_up
        self.exit_process = exit_process
        self.target_thread = threading.current_thread()
        self._condition = threading.Condition()
        self._running = False
        self._job_deadline: Deadline | None = None
        self._stop_deadline: Deadline | None = None
        self._interrupted: Deadline | None = None
        self._next_interrupt = 0.0
        #: When the watchdog thread wakes up next by itself (time.monotonic()).
        self._wakes_at = math.inf
        self._gave_up = False
        self._closed = False
        #: The interrupt that the next SIGALRM in the main thread raises.
        self.pending: BaseException | None = None

    def start(self) -> None:
        """Start watching; the calling thread is the one that performs jobs."""
        self.target_thread = threading.current_thread()
        super().start()

    # Called from the worker's thread.

    def job_started(self, max_run_time: float) -> None:
        with self._condition:
            self._running = True
            self._interrupted = None
            self.pending = None
            self._job_deadline = Deadline(
                time.monotonic() + max_run_time, JobTimeout,
                f"the job ran for longer than its max_run_time of {max_run_time:g} s",
            )
            # A thread that wakes up before this deadline anyway needs no wake-up
            # call; short jobs in a row would otherwise switch threads twice each.
            if self._job_deadline.at < self._wakes_at:
                self._condition.notify()

    def job_finished(self) -> None:
        """Mark the job done; never returns if the watchdog already gave up on it."""
        with self._condition:
            self._running = False
            self._job_deadline = None
            self._interrupted = None
            self.pending = None
            gave_up = self._gave_up
        if gave_up:
            # The watchdog recorded the outcome and is ending the process.
            threading.Event().wait()

    def interrupt_job(self, reason: str) -> None:
        """Interrupt the running job now with ForcedStop; unlike stop_at, later jobs are not affected."""
        with self._condition:
            if not self._running:
                return
            self._job_deadline = Deadline(time.monotonic(), ForcedStop, reason)
            self._condition.notify()

    def stop_at(self, seconds: float, reason: str) -> None:
        """Interrupt the running job with ForcedStop after ``seconds`` (0: now)."""
        with self._condition:
            self._stop_deadline = Deadline(time.monotonic() + seconds, ForcedStop, reason)
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()

    @property
    def running(self) -> bool:
        return self._running

    # The watchdog thread.

    def run(self) -> None:
        with self._condition:
            while not self._closed:
                now = time.monotonic()
                timeout = self._step(now)
                if self._gave_up:
                    break
                self._wakes_at = math.inf if timeout is None else now + timeout
                self._condition.wait(timeout)
        if self._gave_up:
            self.give_up(self._interrupted.interrupt, self._interrupted.reason)
            self.exit_process(EXIT_JOB_WOULD_NOT_STOP)

    def _step(self, now: float) -> float | None:
        """Act on the deadlines; return the seconds until the next one, or None."""
        if not self._running:
            return None
        if self._interrupted is None:
            due = [d for d in (self._job_deadline, self._stop_deadline) if d is not None]
            if not due:
                return None
            first = min(due, key=lambda deadline: deadline.at)
            if now < first.at:
                return first.at - now
            self._interrupted = first
            self._next_interrupt = now
        if now >= self._interrupted.at + self.grace:
            self._gave_up = True
            return 0
        if now >= self._next_interrupt:
            self._interrupt(self._interrupted)
            self._next_interrupt = now + REPEAT_INTERRUPT
        return min(self._next_interrupt, self._interrupted.at + self.grace) - now

    def _interrupt(self, deadline: Deadline) -> None:
        self.pending = deadline.interrupt(deadline.reason)
        if self.target_thread is threading.main_thread():
            signal.pthread_kill(self.target_thread.ident, signal.SIGALRM)
        else:
            # Not the main thread (tests): raise asynchronously, between bytecodes.
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.target_thread.ident), ctypes.py_object(deadline.interrupt)
            )

    def on_alarm(self, signum: int, frame: object) -> None:
        """The SIGALRM handler: raise the pending interrupt inside the running job."""
        pending = self.pending
        if pending is not None and self._running:
            self.pending = None
            raise pending
