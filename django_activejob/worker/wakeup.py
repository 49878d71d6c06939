"""Let an idle worker sleep until it has something to do.

A worker sleeps until the next poll (``sleep_delay``), a stop request, or,
on PostgreSQL, a NOTIFY from the DelayedJob table's triggers (see migration
0002) for one of its queues. A notification for a row scheduled later
carries its run_at, and the worker wakes at that time without polling
faster. Without LISTEN (other databases, psycopg2, or LISTEN_NOTIFY off)
polling is the only mechanism.

Stop requests write a byte to a pipe, which is safe from a signal handler
and from any thread.
"""

from __future__ import annotations

import heapq
import os
import select
import time

from django.db import DatabaseError, connections

from .. import log

#: The NOTIFY channel; the triggers in migration 0002 send on it.
CHANNEL = "django_activejob"

#: Future run_at times remembered from notifications; the earliest ones are kept.
MAX_KNOWN_RUN_TIMES = 1000

#: Seconds to wait before opening the LISTEN connection again after it failed.
LISTEN_RETRY = 5.0


class Waker:
    """Sleep and wake-up for one worker."""

    def __init__(self, *, using: str, queues: list[str] | None, listen: bool, identifier: str) -> None:
        self.using = using
        self.queues = set(queues) if queues else None
        self.identifier = identifier
        self.listen = listen and connections[using].vendor == "postgresql"
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._listener = None
        self._closed = False
        self._retry_listen_at = 0.0
        #: Future run_at times (Unix seconds) announced by notifications.
        self._run_times: list[float] = []

    # Any thread or a signal handler.

    def wake(self) -> None:
        if self._closed:
            # The descriptor may belong to another file by now.
            return
        try:
            os.write(self._write_fd, b"\0")
        except (BlockingIOError, OSError):
            pass  # The pipe is full or closed: a wake-up is already pending or the worker is gone.

    # The worker's thread.

    def start(self) -> None:
        """Open the LISTEN connection, before the first reserve, so no notification is missed."""
        if self.listen:
            self._open_listener()

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def wait(self, timeout: float, reopen_listener: bool = True) -> None:
        """Sleep up to ``timeout`` seconds; return early for a stop request or a relevant NOTIFY.

        A lost LISTEN connection is opened again when its retry time comes,
        and the wait ends there, since notifications may have been missed.
        ``reopen_listener=False`` keeps a backoff after a database error whole.
        """
        deadline = time.monotonic() + timeout
        reopen = self.listen and reopen_listener
        if reopen and self._listener is None and time.monotonic() >= self._retry_listen_at:
            self._open_listener()
        while True:
            remaining = deadline - time.monotonic()
            next_run = self._seconds_to_next_run_time()
            if next_run is not None:
                remaining = min(remaining, next_run)
            if reopen and self._listener is None:
                retry_in = self._retry_listen_at - time.monotonic()
                if retry_in <= 0:
                    # Listening again; notifications sent meanwhile were missed, so reserve now.
                    self._open_listener()
                    return
                remaining = min(remaining, retry_in)
            if remaining <= 0:
                return
            fds = [self._read_fd]
            if self._listener is not None:
                fds.append(self._listener.fileno())
            try:
                readable, _, _ = select.select(fds, [], [], remaining)
            except InterruptedError:
                continue
            if self._read_fd in readable:
                self._drain_pipe()
                return
            if readable and self._read_notifications():
                return

    def remember_run_time(self, run_at: float) -> None:
        """Wake at ``run_at`` (Unix seconds), as if a notification had announced it."""
        heapq.heappush(self._run_times, run_at)
        if len(self._run_times) > MAX_KNOWN_RUN_TIMES:
            self._run_times = heapq.nsmallest(MAX_KNOWN_RUN_TIMES, self._run_times)
            heapq.heapify(self._run_times)

    def close(self) -> None:
        self._closed = True
        self._close_listener()
        for fd in (self._read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    # Internals.

    def _seconds_to_next_run_time(self) -> float | None:
        now = time.time()
        while self._run_times and self._run_times[0] <= now - 1:
            # Passed while the worker was busy; its reserve saw the row.
            heapq.heappop(self._run_times)
        if not self._run_times:
            return None
        if self._run_times[0] <= now:
            heapq.heappop(self._run_times)
            return 0.0
        return self._run_times[0] - now

    def _drain_pipe(self) -> None:
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass

    def _open_listener(self) -> None:
        connection = connections[self.using]
        if connection.Database.__name__ != "psycopg":
            log.listen_unavailable(self.identifier, "LISTEN/NOTIFY needs psycopg 3, not psycopg2")
            self.listen = False
            return
        try:
            # A connection of its own, outside any pool, that stays idle in LISTEN.
            raw = connection.Database.connect(**connection.get_connection_params())
            raw.autocommit = True
            raw.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:
            self._retry_listen_at = time.monotonic() + LISTEN_RETRY
            log.listen_failed(self.identifier, exc, LISTEN_RETRY)
            return
        self._listener = raw
        log.listening(self.identifier, CHANNEL)

    def _read_notifications(self) -> bool:
        """Consume pending notifications; return True if one concerns this worker now."""
        listener = self._listener
        relevant = False
        try:
            listener.pgconn.consume_input()
            while (notification := listener.pgconn.notifies()) is not None:
                relevant |= self._handle(notification.extra.decode())
        except Exception as exc:
            log.listen_failed(self.identifier, exc, LISTEN_RETRY)
            self._close_listener()
            self._retry_listen_at = time.monotonic() + LISTEN_RETRY
            # Jobs may have arrived unannounced; reserve now.
            return True
        return relevant

    def _handle(self, payload: str) -> bool:
        queue, _, run_at = payload.partition(" ")
        if self.queues is not None and (queue or "default") not in self.queues:
            return False
        if not run_at:
            return True
        try:
            moment = float(run_at)
        except ValueError:
            return True
        if moment <= time.time():
            # The trigger compares with the transaction's start, so a row can be due already.
            return True
        self.remember_run_time(moment)
        return False

    def _close_listener(self) -> None:
        if self._listener is None:
            return
        try:
            self._listener.close()
        except (DatabaseError, Exception):
            pass
        self._listener = None
