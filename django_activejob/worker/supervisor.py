"""The supervisor: fork worker processes for each pool, restart those that die, stop them all.

Each worker also writes a byte to a second pipe every few seconds from a
thread of its own. A job that holds the GIL in one long C call stops every
thread of its process, the heartbeat included. The supervisor notices the
silence and kills that worker before other workers count it as dead and
start its job a second time.

The supervisor itself never opens a database connection. It sends each
worker its stop request through a pipe rather than a signal. A worker that
also receives the SIGTERM that systemd, Heroku or a terminal sends to the
whole process group therefore counts one stop request, not two. When the supervisor dies, the pipes
close and its workers stop gracefully instead of running on unsupervised.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import FrameType

from django.db import connections

from .. import conf, log
from .pools import Pool
from .worker import Worker, WorkerOptions

#: Seconds before restarting a worker that died; doubles while workers die young.
RESTART_DELAY_START = 1.0
RESTART_DELAY_CAP = 60.0

#: A worker that ran at least this long before dying is restarted after the first delay again.
HEALTHY_UPTIME = 30.0

#: Extra seconds the supervisor waits for stopping workers before it sends SIGKILL.
STOP_MARGIN = 10.0

#: The messages the supervisor writes to a worker's pipe.
STOP, FORCE = b"s", b"f"

#: Liveness pings per HEARTBEAT_INTERVAL that a worker sends its supervisor.
PINGS_PER_INTERVAL = 2


@dataclass
class Child:
    """One forked worker process."""

    identifier: str
    options: WorkerOptions
    pid: int = 0
    control_fd: int = -1
    ping_fd: int = -1
    started: float = 0.0
    last_ping: float = 0.0
    killed: bool = False
    restart_at: float | None = None
    restart_delay: float = RESTART_DELAY_START


class Supervisor:
    """Run ``pools`` of worker processes in the foreground until stopped."""

    def __init__(self, pools: list[Pool], base: WorkerOptions, identifier: str,
                 run_worker: Callable[[WorkerOptions, int, int], int] | None = None) -> None:
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.identifier = identifier
        self.children: list[Child] = []
        number = 0
        for pool in pools:
            for _ in range(pool.processes):
                number += 1
                options = replace(
                    base, queues=pool.queues, identifier=f"{identifier}.{number}", supervisor=self.name,
                    **pool.options,
                )
                self.children.append(Child(identifier=options.identifier, options=options))
        self.run_worker = run_worker or run_worker_process
        # Silence for this long means no thread of the worker runs: others would soon count it dead.
        self.silence_limit = conf.get("HEARTBEAT_TIMEOUT") - conf.get("HEARTBEAT_INTERVAL")
        self.stopping = False
        self.forced = False
        self.stop_deadline: float | None = None
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    def run(self) -> int:
        """Supervise until every worker has exited after a stop; return the exit status."""
        self._install_signal_handlers()
        log.supervisor_started(self.name, [child.identifier for child in self.children])
        # The workers must not share the supervisor's database sockets.
        connections.close_all()
        for child in self.children:
            self._start(child)
        statuses: list[int] = []

        while True:
            for child, status in self._reap():
                if self.stopping:
                    statuses.append(status)
                    log.supervised_worker_exited(child.identifier, child.pid, describe_status(status))
                    child.pid = 0
                else:
                    self._schedule_restart(child, status)
            if self.stopping and not any(child.pid for child in self.children):
                break
            self._restart_due()
            self._kill_silent()
            if self.stopping and self.stop_deadline is not None and time.monotonic() >= self.stop_deadline:
                self._kill_remaining()
            self._wait(self._next_timeout())

        log.supervisor_stopped(self.name)
        return 0 if not self.forced and all(status == 0 for status in statuses) else 1

    # Workers

    def _start(self, child: Child) -> None:
        read_fd, write_fd = os.pipe()
        ping_read, ping_write = os.pipe()
        siblings = [fd for other in self.children for fd in (other.control_fd, other.ping_fd) if fd >= 0]
        pid = os.fork()
        if pid == 0:
            os.close(write_fd)
            os.close(ping_read)
            for fd in (*siblings, self._wake_read, self._wake_write):
                os.close(fd)
            status = 1
            try:
                status = self.run_worker(child.options, read_fd, ping_write)
            except BaseException:
                logging.getLogger("django_activejob.worker").exception(
                    "Worker %s stopped on an unhandled error", child.identifier
                )
            finally:
                logging.shutdown()
                os._exit(status)
        os.close(read_fd)
        os.close(ping_write)
        os.set_blocking(ping_read, False)
        child.pid = pid
        child.control_fd = write_fd
        child.ping_fd = ping_read
        child.started = child.last_ping = time.monotonic()
        child.killed = False
        child.restart_at = None
        log.supervised_worker_started(child.identifier, pid, child.options.queues)

    def _reap(self) -> list[tuple[Child, int]]:
        exited = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for child in self.children:
                if child.pid == pid:
                    self._close_control(child)
                    exited.append((child, status))
        return exited

    def _schedule_restart(self, child: Child, status: int) -> None:
        uptime = time.monotonic() - child.started
        if uptime >= HEALTHY_UPTIME:
            child.restart_delay = RESTART_DELAY_START
        log.supervised_worker_died(child.identifier, child.pid, describe_status(status), child.restart_delay)
        child.pid = 0
        child.restart_at = time.monotonic() + child.restart_delay
        child.restart_delay = min(child.restart_delay * 2, RESTART_DELAY_CAP)

    def _restart_due(self) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        for child in self.children:
            if child.pid == 0 and child.restart_at is not None and now >= child.restart_at:
                self._start(child)

    def _kill_remaining(self) -> None:
        for child in self.children:
            if child.pid:
                log.supervised_worker_killed(child.identifier, child.pid)
                try:
                    os.kill(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.stop_deadline = None

    def _tell_all(self, message: bytes) -> None:
        for child in self.children:
            if child.pid and child.control_fd >= 0:
                try:
                    os.write(child.control_fd, message)
                except OSError:
                    pass

    def _close_control(self, child: Child) -> None:
        if child.control_fd >= 0:
            os.close(child.control_fd)
            child.control_fd = -1
        if child.ping_fd >= 0:
            os.close(child.ping_fd)
            child.ping_fd = -1

    def _read_pings(self, readable: list[int]) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.ping_fd in readable:
                try:
                    while os.read(child.ping_fd, 4096):
                        child.last_ping = now
                except BlockingIOError:
                    pass

    def _kill_silent(self) -> None:
        """SIGKILL workers whose liveness pings stopped; their restart releases the job."""
        now = time.monotonic()
        for child in self.children:
            silent = now - child.last_ping
            if child.pid and not child.killed and silent > self.silence_limit:
                log.supervised_worker_silent(child.identifier, child.pid, silent)
                child.killed = True
                try:
                    os.kill(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    # Waiting and signals

    def _next_timeout(self) -> float:
        now = time.monotonic()
        moments = [child.restart_at for child in self.children if child.pid == 0 and child.restart_at]
        if self.stop_deadline is not None:
            moments.append(self.stop_deadline)
        return max(0.0, min([1.0, *(moment - now for moment in moments)]))

    def _wait(self, timeout: float) -> None:
        fds = [self._wake_read, *(child.ping_fd for child in self.children if child.ping_fd >= 0)]
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            readable = []
        self._read_pings(readable)
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGCHLD, self._on_child)

    def _on_child(self, signum: int, frame: FrameType | None) -> None:
        self._wake()

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not self.stopping:
            self.stopping = True
            timeout = conf.get("SHUTDOWN_TIMEOUT") + conf.get("INTERRUPT_GRACE") + STOP_MARGIN
            self.stop_deadline = time.monotonic() + timeout
            log.supervisor_stopping(self.name, name, timeout)
            self._tell_all(STOP)
        else:
            self.forced = True
            log.supervisor_forced_stop(self.name, name)
            self._tell_all(FORCE)
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"\0")
        except OSError:
            pass


def run_worker_process(options: WorkerOptions, control_fd: int, ping_fd: int) -> int:
    """Run a Worker in a forked process; it obeys the supervisor's pipe and pings it."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    worker = Worker(options)
    threading.Thread(target=_follow_supervisor, args=(worker, control_fd), name="supervisor pipe",
                     daemon=True).start()
    interval = conf.get("HEARTBEAT_INTERVAL") / PINGS_PER_INTERVAL
    threading.Thread(target=_ping_supervisor, args=(ping_fd, interval), name="supervisor ping",
                     daemon=True).start()
    return worker.run()


def _ping_supervisor(ping_fd: int, interval: float) -> None:
    """Write a byte every ``interval`` seconds; it gets through only while the process's threads run."""
    os.set_blocking(ping_fd, False)
    while True:
        try:
            os.write(ping_fd, b"p")
        except BlockingIOError:
            pass  # The supervisor hasn't read the last pings yet.
        except OSError:
            return
        time.sleep(interval)


def _follow_supervisor(worker: Worker, control_fd: int) -> None:
    """Stop the worker on the supervisor's request, or when the supervisor is gone (end of file)."""
    while True:
        try:
            data = os.read(control_fd, 16)
        except OSError:
            data = b""
        if not data:
            if not worker.stopping:
                log.supervisor_gone(worker.identifier)
            worker.stop()
            return
        if FORCE in data:
            worker.force_stop()
        elif STOP in data:
            worker.stop()


def describe_status(status: int) -> str:
    """Describe a wait status: "exit status 3" or "killed by SIGKILL"."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return f"killed by {name}"
    code = os.waitstatus_to_exitcode(status)
    if code == 3:
        return "exit status 3 (a job would not stop after its max_run_time or the shutdown timeout)"
    return f"exit status {code}"
