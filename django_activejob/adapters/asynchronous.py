"""The async adapter: perform jobs on a thread pool inside the process that enqueues them."""

from __future__ import annotations

import concurrent.futures
import datetime
import heapq
import itertools
import json
import math
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.utils import timezone

from .. import conf, log
from ..exceptions import EnqueueError
from .base import QueueAdapter
from .database import encode_payload

if TYPE_CHECKING:
    from ..job import Job

#: Pool threads are named ``activejob-async_0``, ``activejob-async_1``, ...
THREAD_NAME_PREFIX = "activejob-async"


class AsyncAdapter(QueueAdapter):
    """Perform jobs on a thread pool in this process, for development and small deployments.

    Queued and scheduled jobs exist only in this process's memory, so they
    are lost when the process stops or restarts. Don't use this adapter for
    work that must not be lost: use the database adapter and ``jobs_worker``.

    Each job goes through the same JSON round trip as on the database
    adapter, so an argument that would fail there fails at ``perform_later``
    here too. A new job instance is then performed on a pool thread, which
    closes its database connections after each job. Inside a transaction the
    job is handed over after the commit, and dropped on a rollback (see
    ``Job.defers_enqueue``). Scheduled jobs, including retry_on's retries,
    wait in memory until one scheduler thread hands them to the pool.

    retry_on, discard_on and rescue_from work as on any adapter. An
    exception that escapes ``perform_now`` is logged at ERROR with its
    traceback, and the job is not retried: this adapter has no equivalent of
    the database worker's ``MAX_ATTEMPTS`` retries.

    The pool starts on the first enqueue, with ``max_threads`` threads
    (default ``ACTIVEJOB["ASYNC_MAX_THREADS"]``, read when the pool starts).
    When the interpreter exits, the adapter stops as ``shutdown()`` describes
    and waits up to ``shutdown_timeout`` seconds (default
    ``ACTIVEJOB["ASYNC_SHUTDOWN_TIMEOUT"]``) for running jobs.
    """

    name = "async"
    supports_scheduling = True

    def __init__(self, *, max_threads: int | None = None, shutdown_timeout: float | None = None) -> None:
        if max_threads is not None and not _valid_max_threads(max_threads):
            raise ValueError(f"max_threads={max_threads!r} is invalid: pass an int of 1 or more, or None.")
        if shutdown_timeout is not None and not _valid_shutdown_timeout(shutdown_timeout):
            raise ValueError(
                f"shutdown_timeout={shutdown_timeout!r} is invalid: pass a finite number of "
                f"seconds, 0 or more, or None."
            )
        #: Pool size. None reads ``ACTIVEJOB["ASYNC_MAX_THREADS"]`` when the pool starts.
        self.max_threads = max_threads
        #: Seconds to wait for running jobs at interpreter exit. None reads
        #: ``ACTIVEJOB["ASYNC_SHUTDOWN_TIMEOUT"]`` at exit.
        self.shutdown_timeout = shutdown_timeout
        # Guards _pool and _accepting. Taken before a pool's condition and _exit_lock, never after them.
        self._lock = threading.Lock()
        self._pool: _Pool | None = None
        # False while shutdown() runs, so enqueue raises instead of starting a new pool.
        self._accepting = True

    def transaction_alias(self) -> str | None:
        return None

    def enqueue(self, job: Job) -> None:
        self._add(job, run_at=None)

    def enqueue_at(self, job: Job, run_at: datetime.datetime) -> None:
        self._add(job, run_at=run_at)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the pool: drop queued and scheduled jobs, then wait for running jobs.

        Enqueueing raises EnqueueError until this returns. ``wait=False``
        returns without waiting for running jobs. ``timeout`` is in seconds,
        and None waits until every running job returns. Python can't stop a
        thread from outside, so a job still running after the timeout runs
        to its end, and the interpreter doesn't exit before it returns. The
        log lines list the dropped jobs and those still running.

        The adapter remains usable: the next enqueue starts a new pool,
        except after interpreter exit has begun.
        """
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is None:
                return
            self._accepting = False
        with _exit_lock:
            _started_adapters.discard(self)
        try:
            if pool.pid != os.getpid():
                # A forked child inherits the pool object but none of its threads.
                return
            pool.stop(wait=wait, timeout=timeout)
        finally:
            with self._lock:
                self._accepting = True

    def _add(self, job: Job, run_at: datetime.datetime | None) -> None:
        # Encode first, so an argument that can't be serialized raises before any thread starts.
        entry = _Entry(f"{type(job).__name__} (Job ID: {job.job_id})", encode_payload(job.serialize()))
        with self._lock:
            pool = self._running_pool() if self._accepting and not _exit_started else None
            if pool is None:
                raise EnqueueError(
                    f"{entry.description} was not enqueued: the async adapter is shutting down "
                    f"and accepts no new jobs."
                )
            delay = 0.0 if run_at is None else (run_at - timezone.now()).total_seconds()
            if delay > 0:
                pool.schedule(entry, delay)
            else:
                pool.submit(entry)

    def _running_pool(self) -> _Pool | None:
        """Return the pool, started if needed, or None once interpreter exit has begun."""
        if self._pool is not None and self._pool.pid != os.getpid():
            # A forked child inherits the pool object but none of its threads.
            self._pool = None
        if self._pool is None:
            max_threads = self._resolve_max_threads()
            if not _stop_at_exit(self):
                return None
            self._pool = _Pool(max_threads)
            log.async_started(max_threads)
        return self._pool

    def _resolve_max_threads(self) -> int:
        if self.max_threads is not None:
            return self.max_threads
        setting = conf.get("ASYNC_MAX_THREADS")
        if setting is None:
            return default_max_threads()
        if not _valid_max_threads(setting):
            raise ImproperlyConfigured(
                f"ACTIVEJOB['ASYNC_MAX_THREADS'] = {setting!r} is invalid: set it to an int of "
                f"1 or more, or None for the number of CPUs."
            )
        return setting

    def _exit_timeout(self) -> float:
        if self.shutdown_timeout is not None:
            return self.shutdown_timeout
        return conf.get("ASYNC_SHUTDOWN_TIMEOUT")


def default_max_threads() -> int:
    """Return the number of CPUs this process may use, which is the default pool size."""
    # os.process_cpu_count (Python 3.13+) respects CPU affinity, as in a container limited to some CPUs.
    count = getattr(os, "process_cpu_count", os.cpu_count)()
    return count or 1


@dataclass(frozen=True)
class _Entry:
    """One enqueued job: its description for log lines and its JSON payload."""

    description: str
    payload: str


@dataclass(order=True)
class _Scheduled:
    """A job waiting for its run time; ``due`` is a ``time.monotonic()`` value."""

    due: float
    sequence: int
    entry: _Entry = field(compare=False)


class _Pool:
    """A ThreadPoolExecutor, the futures of its jobs, and the scheduled jobs with their scheduler thread."""

    def __init__(self, max_threads: int) -> None:
        self.pid = os.getpid()
        self.max_threads = max_threads
        self.executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix=THREAD_NAME_PREFIX)
        # Guards the fields below. Reentrant, because a future that is already
        # done runs its done callback (_forget) inside submit.
        self.condition = threading.Condition(threading.RLock())
        self.futures: dict[Future, _Entry] = {}
        self.scheduled: list[_Scheduled] = []
        self.sequence = itertools.count()
        self.scheduler: threading.Thread | None = None
        self.stopping = False

    def submit(self, entry: _Entry) -> None:
        with self.condition:
            future = self.executor.submit(_perform, entry)
            self.futures[future] = entry
            future.add_done_callback(self._forget)

    def schedule(self, entry: _Entry, delay: float) -> None:
        with self.condition:
            heapq.heappush(self.scheduled, _Scheduled(time.monotonic() + delay, next(self.sequence), entry))
            if self.scheduler is None:
                # A daemon thread, because it only waits and must never delay interpreter exit.
                self.scheduler = threading.Thread(
                    target=self._run_scheduler, name=f"{THREAD_NAME_PREFIX}-scheduler", daemon=True
                )
                self.scheduler.start()
            self.condition.notify()

    def stop(self, wait: bool, timeout: float | None) -> None:
        """Drop queued and scheduled jobs, then, if ``wait``, wait up to ``timeout`` s for running jobs."""
        with self.condition:
            self.stopping = True
            dropped_scheduled = [item.entry.description for item in sorted(self.scheduled)]
            self.scheduled.clear()
            self.condition.notify_all()
            submitted = list(self.futures.items())
        if self.scheduler is not None:
            self.scheduler.join()

        # cancel() succeeds only for a job that no thread has started.
        dropped_queued = [entry.description for future, entry in submitted if future.cancel()]
        running = {future: entry for future, entry in submitted if not future.cancelled()}
        self.executor.shutdown(wait=False)
        log.async_stopping(dropped_queued, dropped_scheduled, len(running))

        still_running: set[Future] = set(running)
        if wait:
            try:
                still_running = concurrent.futures.wait(set(running), timeout).not_done
            except KeyboardInterrupt:
                # Ctrl+C while waiting at exit ends the interpreter without joining the pool threads.
                log.async_interrupted([entry.description for entry in running.values()])
                raise
            if not still_running:
                # Every job has returned, so this only joins idle threads.
                self.executor.shutdown(wait=True)
        log.async_stopped([running[future].description for future in running if future in still_running])

    def _forget(self, future: Future) -> None:
        with self.condition:
            self.futures.pop(future, None)

    def _run_scheduler(self) -> None:
        with self.condition:
            while not self.stopping:
                if not self.scheduled:
                    self.condition.wait()
                    continue
                delay = self.scheduled[0].due - time.monotonic()
                if delay > 0:
                    # Condition.wait raises OverflowError above TIMEOUT_MAX (about 292 years on Linux).
                    self.condition.wait(min(delay, threading.TIMEOUT_MAX))
                    continue
                self.submit(heapq.heappop(self.scheduled).entry)


def _perform(entry: _Entry) -> None:
    """Perform one job on a pool thread, log an exception that escapes, and close the thread's connections."""
    from ..job import Job

    try:
        # instantiate, not deserialize: perform_now loads the arguments, so that
        # discard_on and retry_on also handle a DeserializationError, as on the worker.
        job = Job.instantiate(json.loads(entry.payload))
        job.adapter_name = AsyncAdapter.name
        job.perform_now()
    except BaseException as exc:
        # BaseException too (a job calling sys.exit), because nothing else
        # would ever read the exception from the future.
        log.async_job_failed(entry.description, exc)
    finally:
        try:
            connections.close_all()
        except DatabaseError as exc:
            log.async_connections_not_closed(entry.description, exc)


def _valid_max_threads(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _valid_shutdown_timeout(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf


# Interpreter exit

#: Adapters with a running pool. Strong references, because an adapter that the
#: caller dropped still has jobs to stop at exit.
_started_adapters: set[AsyncAdapter] = set()
_exit_lock = threading.Lock()
_exit_hook_registered = False
#: True once interpreter exit has begun; no adapter starts a pool after that.
_exit_started = False


def _stop_at_exit(adapter: AsyncAdapter) -> bool:
    """Have ``adapter`` shut down at interpreter exit; return False if exit has already begun."""
    global _exit_hook_registered
    with _exit_lock:
        if _exit_started:
            return False
        _started_adapters.add(adapter)
        if _exit_hook_registered:
            return True
        # NOTE: threading._register_atexit is private (Python 3.9+, checked on 3.11 to
        # 3.13). Its hooks run in reverse order before the interpreter joins non-daemon
        # threads. This one is registered after concurrent.futures' own hook, so it runs
        # first. An atexit.register hook would run only after the pool threads had
        # performed every queued job, with no timeout.
        register = getattr(threading, "_register_atexit", None)
        if register is None:
            import atexit

            register = atexit.register
        register(_stop_all_at_exit)
        _exit_hook_registered = True
        return True


def _stop_all_at_exit() -> None:
    global _exit_started
    with _exit_lock:
        _exit_started = True
        adapters = list(_started_adapters)
    for adapter in adapters:
        try:
            adapter.shutdown(wait=True, timeout=adapter._exit_timeout())
        except Exception as exc:
            # Go on, because the next adapters and the interpreter's own exit steps still need to run.
            log.async_exit_failed(exc)
