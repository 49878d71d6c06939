"""Start a ``bench/manage.py jobs_worker`` process, wait until it is idle, stop it by its pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "bench" / "manage.py"

#: Seconds an idle worker gets to exit after SIGTERM before it gets SIGKILL.
STOP_TIMEOUT = 30.0

#: Seconds to wait after the worker registered, so its first reserve has run and it sleeps.
SETTLE_TIME = 1.0

#: Log lines of django_activejob.log.worker_started and django_activejob.log.listening.
STARTED_LINE = "Starting worker"
LISTENING_LINE = "listens for NOTIFY"


class WorkerError(Exception):
    """A worker process failed to start, to become idle or to stop."""


class WorkerProcess:
    """One ``jobs_worker`` process with its own identifier and log file.

    Use it as a context manager: it starts on entry and is stopped on exit,
    also when the block raises.
    """

    def __init__(self, *, identifier: str, log_path: Path, arguments: list[str],
                 activejob: dict[str, Any], environment: dict[str, str]) -> None:
        self.identifier = identifier
        self.log_path = log_path
        self.command = [sys.executable, str(MANAGE), "jobs_worker", "--identifier", identifier, *arguments]
        self.environment = {**os.environ, **environment, "BENCH_ACTIVEJOB": json.dumps(activejob)}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WorkerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def start(self) -> None:
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env=self.environment, cwd=ROOT, preexec_fn=stop_with_parent,
            )

    def wait_until_idle(self, *, listen: bool, timeout: float = 60.0) -> None:
        """Wait for the start-up log lines and the worker's row, then let its first reserve finish.

        Raises WorkerError when the worker exits, doesn't get there within
        ``timeout`` seconds, or listens for NOTIFY when ``listen`` is False.
        """
        expected = [STARTED_LINE, LISTENING_LINE] if listen else [STARTED_LINE]
        deadline = time.monotonic() + timeout
        while not (all(line in self.log() for line in expected) and self._registered()):
            self._check_alive()
            if time.monotonic() >= deadline:
                raise WorkerError(
                    f"Worker {self.identifier} (pid {self.pid}) did not become idle within {timeout:g} s; "
                    f"expected the log lines {expected} and its WorkerProcess row.\n{self.log_tail()}"
                )
            time.sleep(0.05)

        time.sleep(SETTLE_TIME)
        self._check_alive()
        if not listen and LISTENING_LINE in self.log():
            raise WorkerError(
                f"Worker {self.identifier} listens for NOTIFY although this run polls: check that "
                f"BENCH_ACTIVEJOB sets LISTEN_NOTIFY to false.\n{self.log_tail()}"
            )

    def stop(self) -> int | None:
        """Send SIGTERM, then SIGKILL after STOP_TIMEOUT seconds; return the exit status."""
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process else None
        try:
            os.kill(self.process.pid, signal.SIGTERM)
            return self.process.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            return self.process.wait()
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise WorkerError(
                f"Worker {self.identifier} (pid {self.pid}) did not stop within {STOP_TIMEOUT:g} s "
                f"of SIGTERM and was killed with SIGKILL.\n{self.log_tail()}"
            ) from None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        tail = self.log().splitlines()[-lines:]
        return f"Last lines of {self.log_path}:\n" + "\n".join(tail)

    def check_alive(self) -> None:
        """Raise WorkerError if the process has exited."""
        self._check_alive()

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise WorkerError(
                f"Worker {self.identifier} (pid {self.pid}) exited with status "
                f"{self.process.returncode}.\n{self.log_tail()}"
            )

    def _registered(self) -> bool:
        from django_activejob.models import WorkerProcess as WorkerRow

        return WorkerRow.objects.filter(identifier=self.identifier).exists()


def stop_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child process when its parent dies without stopping it.

    Runs in the child between fork and exec, as ``preexec_fn``.
    """
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # Not Linux: only the parent's own clean-up stops the child.
