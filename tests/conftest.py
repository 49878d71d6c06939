"""Fixtures shared by the suite: worker processes and an SMTP server on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from demo_project.mailserver import SMTPServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server on 127.0.0.1 that keeps every message it receives."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


def worker_environment(**extra: str) -> dict[str, str]:
    """Return the environment for a jobs_worker subprocess on the test database."""
    environment = {**os.environ, "ACTIVEJOB_TEST_WORKER": "1", "PYTHONUNBUFFERED": "1"}
    environment["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    environment.update(extra)
    return environment


class WorkerProcess:
    """A ``manage.py jobs_worker`` subprocess; its output goes to a log file."""

    def __init__(self, args: list[str], log_path: Path, environment: dict[str, str]) -> None:
        self.log_path = log_path
        self.log_file = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "jobs_worker", *args],
            cwd=ROOT, env=environment, stdout=self.log_file, stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"worker output never contained {text!r}:\n{self.output()}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log_file.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start jobs_worker subprocesses on the test database; kill leftovers by pid at teardown."""
    started: list[WorkerProcess] = []

    def start(*args: str, **environment: str) -> WorkerProcess:
        worker = WorkerProcess(
            list(args), tmp_path / f"worker-{len(started)}.log", worker_environment(**environment)
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
