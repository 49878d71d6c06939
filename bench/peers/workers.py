"""Start a peer's worker processes in their own process groups and stop them by those ids."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from bench.workers import stop_with_parent

#: Seconds the workers get to exit after SIGTERM before their process groups get SIGKILL.
STOP_TIMEOUT = 30.0


class WorkerError(Exception):
    """A worker process exited while the workload needed it."""


class WorkerGroup:
    """The worker processes of one run; a context manager that stops them on exit, also on errors.

    Each process leads a new session, so it and the children it forks (celery's
    pool, huey's workers) form one process group that the stop can reach
    without touching any process this script didn't start.
    """

    def __init__(self, commands: list[list[str]], environment: dict[str, str], log_prefix: Path) -> None:
        self.commands = commands
        self.environment = {**os.environ, **environment}
        self.log_paths = [Path(f"{log_prefix}.worker{number}.log") for number in range(len(commands))]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started_at = 0.0
        #: Set by stop() when a worker ignored SIGTERM for STOP_TIMEOUT seconds and got SIGKILL.
        self.stop_warning: str | None = None

    def __enter__(self) -> WorkerGroup:
        self.started_at = time.time()
        for command, log_path in zip(self.commands, self.log_paths, strict=True):
            with open(log_path, "wb") as log_file:
                self.processes.append(subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                    env=self.environment, start_new_session=True, preexec_fn=stop_with_parent,
                ))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def check_alive(self) -> None:
        for process, log_path in zip(self.processes, self.log_paths, strict=False):
            if process.poll() is not None:
                raise WorkerError(
                    f"Worker pid {process.pid} ({' '.join(process.args)}) exited with status "
                    f"{process.returncode}.\n{log_tail(log_path)}"  # type: ignore[arg-type]
                )

    def stop(self) -> None:
        """Send SIGTERM to each worker, wait up to STOP_TIMEOUT, then SIGKILL whatever is left.

        A worker that needed SIGKILL sets stop_warning.

        SIGINT and SIGTERM are ignored meanwhile, so a second Ctrl+C or the
        runner's SIGTERM can't cut the stop short and leave workers running.
        """
        previous_handlers = {number: signal.signal(number, signal.SIG_IGN)
                             for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._stop()
        finally:
            for number, handler in previous_handlers.items():
                signal.signal(number, handler)

    def _stop(self) -> None:
        # rq's work horses call setsid(), so they leave the worker's process group: note them now,
        # before their worker exits and they are reparented.
        descendants = [pid for process in self.processes for pid in _descendants(process.pid)]
        for process in self.processes:
            if process.poll() is None:
                _signal_process(process.pid, signal.SIGTERM)

        deadline = time.monotonic() + STOP_TIMEOUT
        stuck = []
        for process in self.processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stuck.append(process.pid)

        # Also after a clean exit: a child the worker left behind is still in its group.
        for process in self.processes:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        for pid in descendants:
            _signal_process(pid, signal.SIGKILL)
        if stuck:
            # A warning, not an error: the workloads stop their workers after measuring.
            self.stop_warning = (f"Workers {stuck} did not exit within {STOP_TIMEOUT:g} s of SIGTERM and "
                                 f"were killed with SIGKILL; logs: {', '.join(map(str, self.log_paths))}")


def log_tail(log_path: Path, lines: int = 15) -> str:
    try:
        tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"{log_path} is missing."
    return f"Last lines of {log_path}:\n" + "\n".join(tail)


def _descendants(pid: int) -> list[int]:
    """Return the pids of a process's children, grandchildren and so on, from Linux's /proc."""
    found = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for children_file in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(child) for child in children_file.read_text().split()]
            except (OSError, ValueError):
                continue
            found += children
            pending += children
    return found


def _signal_process(pid: int, number: signal.Signals) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, number: signal.Signals) -> None:
    try:
        os.killpg(pgid, number)
    except (ProcessLookupError, PermissionError):
        pass
