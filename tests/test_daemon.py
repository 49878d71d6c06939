"""Tests of the jobs_worker daemon control: pid file names, pid files, start, stop and status.

Daemons are started by tests/daemon_fixture/jobs_worker_fixture.py in a subprocess, because
start_daemon forks its caller. Every daemon a test starts is killed by pid at teardown, even
when the test fails. The checks read /proc, so the module runs on Linux only. Timeouts only
bound waiting; no test checks how fast anything runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from django_activejob.worker.daemon import (
    AlreadyRunningError,
    DaemonError,
    PidFile,
    daemon_status,
    find_pid_files,
    is_jobs_worker,
    pid_file_path,
    start_daemon,
    stop_daemon,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the checks read /proc")

FIXTURE = ROOT / "tests" / "daemon_fixture" / "jobs_worker_fixture.py"
REAP = ROOT / "tests" / "daemon_fixture" / "reap.py"

#: Seconds to wait for a fixture process, a daemon's output or its exit.
WAIT_TIMEOUT = 60.0

#: The environment of fixture processes. Without PYTHONUNBUFFERED, output is buffered as in
#: most deployments, so the tests see whether the daemon flushes it before it exits.
FIXTURE_ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


# Helpers


def wait_for(condition: Callable[[], bool], description: str, timeout: float = WAIT_TIMEOUT) -> None:
    """Poll ``condition`` until it is true, and fail naming ``description`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout} s waiting for {description}.")


def proc_stat(pid: int) -> list[str]:
    """Return the fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def proc_status(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return value.strip()
    raise AssertionError(f"/proc/{pid}/status has no {field} line")


def is_fixture_process(pid: int) -> bool:
    """Return whether ``pid`` is a live (not zombie) process running the fixture script."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = proc_stat(pid)[0]
    except (OSError, IndexError):
        return False
    return FIXTURE.name.encode() in command_line and state not in ("Z", "X")


def kill_fixture_process(pid: int) -> None:
    """SIGKILL ``pid`` if it still runs the fixture script, so a reused pid is never hit."""
    if is_fixture_process(pid):
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not is_fixture_process(pid), f"pid {pid} to die from SIGKILL")


def signal_mask(pid: int, field: str) -> set[int]:
    """Return the signal numbers in the SigIgn or SigCgt mask of /proc/<pid>/status."""
    mask = int(proc_status(pid, field), 16)
    return {number for number in range(1, 65) if mask & (1 << (number - 1))}


class Daemons:
    """Runs the fixture script and remembers every daemon pid it reports, for teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.pid_file = tmp_path / "pids" / "jobs_worker.pid"
        self.log_file = tmp_path / "log" / "jobs_worker.log"
        self.pids: list[int] = []

    def command(self, mode: str, *, pid_file: Path | None = None, log_file: Path | None = None,
                ready_timeout: float | None = None) -> list[str]:
        command = [sys.executable, str(FIXTURE), mode,
                   "--pid-file", str(pid_file or self.pid_file),
                   "--log-file", str(log_file or self.log_file),
                   "--database", str(self.tmp_path / "fixture.sqlite3")]
        if ready_timeout is not None:
            command += ["--ready-timeout", str(ready_timeout)]
        return command

    def start(self, mode: str, **options: object) -> subprocess.CompletedProcess[str]:
        """Run the fixture script and return its result; a started daemon's pid is kept for teardown."""
        result = subprocess.run(self.command(mode, **options), cwd=ROOT, env=FIXTURE_ENVIRONMENT,
                                capture_output=True, text=True, timeout=WAIT_TIMEOUT)
        self.remember(result.stdout)
        return result

    def start_running(self, mode: str, **options: object) -> int:
        """Start a daemon that must come up, and return its pid."""
        result = self.start(mode, **options)
        assert result.returncode == 0, f"the fixture exited with {result.returncode}:\n{result.stderr}"
        return started_pid(result.stdout)

    def start_reaped(self, mode: str, **options: object) -> tuple[str, dict]:
        """Start a daemon under reap.py, wait for it to exit, and return the output and its statuses."""
        command = [sys.executable, str(REAP), str(WAIT_TIMEOUT), *self.command(mode, **options)]
        result = subprocess.run(command, cwd=ROOT, env=FIXTURE_ENVIRONMENT, capture_output=True, text=True,
                                timeout=WAIT_TIMEOUT + 30)
        self.remember(result.stdout)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout.splitlines()[-1])
        assert not report["timed_out"], f"the daemon did not exit:\n{self.log_file.read_text()}"
        return result.stdout, report

    def remember(self, text: str) -> None:
        for line in text.splitlines():
            if line.startswith("started "):
                self.pids.append(int(line.split()[1]))

    def kill_all(self) -> None:
        for pid in self.pids:
            kill_fixture_process(pid)
        # A daemon whose pid never reached the test (a failed assert above) still has its pid file.
        for path in self.tmp_path.rglob("jobs_worker*.pid"):
            pid = PidFile(path).read()
            if pid is not None:
                kill_fixture_process(pid)


def started_pid(stdout: str) -> int:
    for line in stdout.splitlines():
        if line.startswith("started "):
            return int(line.split()[1])
    raise AssertionError(f"the fixture printed no 'started <pid>' line:\n{stdout}")


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    manager = Daemons(tmp_path)
    yield manager
    manager.kill_all()


@pytest.fixture
def fake_worker() -> Iterator[subprocess.Popen[bytes]]:
    """A live process with "jobs_worker" in its command line, as a running worker has."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "jobs_worker"])
    # Until the child has called exec, /proc/<pid>/cmdline still shows this test process.
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + WAIT_TIMEOUT
    while b"jobs_worker" not in cmdline.read_bytes():
        assert time.monotonic() < deadline, f"pid {process.pid} never showed jobs_worker in {cmdline}"
        time.sleep(0.01)
    yield process
    process.kill()
    process.wait(timeout=WAIT_TIMEOUT)


@pytest.fixture
def unrelated_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not a jobs_worker, as after pid reuse."""
    process = subprocess.Popen(["sleep", "300"])
    yield process
    process.kill()
    process.wait(timeout=WAIT_TIMEOUT)


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait(timeout=WAIT_TIMEOUT)
    return process.pid


# pid_file_path


def test_pid_file_path_without_identifier(tmp_path):
    assert pid_file_path(tmp_path, None) == tmp_path / "jobs_worker.pid"


@pytest.mark.parametrize(
    ("identifier", "name"),
    [
        ("mail", "jobs_worker.mail.pid"),
        ("mail_1", "jobs_worker.mail_1.pid"),
        ("mail-2.b", "jobs_worker.mail-2.b.pid"),
        ("a/b", "jobs_worker.a%2Fb.pid"),
        ("../etc", "jobs_worker.%2E.%2Fetc.pid"),
        (".hidden", "jobs_worker.%2Ehidden.pid"),
        ("two words", "jobs_worker.two%20words.pid"),
        ("nul\0byte", "jobs_worker.nul%00byte.pid"),
        ("café", "jobs_worker.caf%C3%A9.pid"),
        ("host:web1 pid:42", "jobs_worker.host%3Aweb1%20pid%3A42.pid"),
    ],
)
def test_pid_file_path_encodes_identifier(tmp_path, identifier, name):
    assert pid_file_path(tmp_path, identifier) == tmp_path / name


@pytest.mark.parametrize(
    "identifier",
    ["a/b", "/", "..", ".", "\0", " ", "\t\n", "\\", "x" * 300, "é" * 255, "\udcff", "日本語", "a\u2028b"],
)
def test_pid_file_path_is_one_safe_file_name(tmp_path, identifier):
    path = pid_file_path(tmp_path, identifier)
    name = path.name

    assert path.parent == tmp_path
    assert path == pid_file_path(tmp_path, identifier)
    assert name.startswith("jobs_worker.")
    assert name.endswith(".pid")
    assert not name.removeprefix("jobs_worker.").startswith(".")
    assert name.isascii()
    assert name.isprintable()
    assert not any(character.isspace() for character in name)
    assert "/" not in name
    assert "\\" not in name
    assert len(name.encode()) <= 255


def test_pid_file_path_never_shares_a_file(tmp_path):
    identifiers = ["a/b", "a_b", "a%2Fb", "a b", "a+b", "a%20b", ".x", "%2Ex", "x", "X", "é", "%C3%A9",
                   "e" * 300, "e" * 301, "é" * 200, "é" * 200 + "e", "é" * 199 + "e"]

    paths = [pid_file_path(tmp_path, identifier) for identifier in identifiers]

    assert len(set(paths)) == len(identifiers), paths


def test_pid_file_path_long_identifier(tmp_path):
    name = pid_file_path(tmp_path, "é" * 255).name

    assert len(name) == 255
    assert name.startswith("jobs_worker.%C3%A9")
    assert "+" in name


def test_pid_file_path_rejects_empty_identifier(tmp_path):
    with pytest.raises(ValueError, match="identifier is empty: pass None"):
        pid_file_path(tmp_path, "")


# PidFile


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"abc\n", b"-5\n", b"0\n", b"12 34\n", b"1.5\n", b"\xff\xfe", b"9" * 30, b"2147483648\n",
     b"1" * 100, "١٢٣".encode()],
    ids=repr,
)
def test_read_treats_garbage_as_no_pid(tmp_path, content):
    path = tmp_path / "jobs_worker.pid"
    path.write_bytes(content)

    assert PidFile(path).read() is None
    assert PidFile(path).running_pid() is None


@pytest.mark.parametrize(("content", "pid"), [(b"123\n", 123), (b"  77 \n", 77), (b"2147483647", 2147483647)])
def test_read_returns_pid(tmp_path, content, pid):
    path = tmp_path / "jobs_worker.pid"
    path.write_bytes(content)

    assert PidFile(path).read() == pid


def test_read_missing_file(tmp_path):
    assert PidFile(tmp_path / "missing" / "jobs_worker.pid").read() is None


def test_read_unreadable_path_raises(tmp_path):
    path = tmp_path / "jobs_worker.pid"
    path.mkdir()

    with pytest.raises(DaemonError, match=re.escape(f"Could not read the pid file {path}")):
        PidFile(path).read()


def test_running_pid_of_fake_worker(tmp_path, fake_worker):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{fake_worker.pid}\n")

    assert pid_file.running_pid() == fake_worker.pid


def test_running_pid_ignores_reused_pid(tmp_path, unrelated_process):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{unrelated_process.pid}\n")

    assert is_jobs_worker(unrelated_process.pid) is False
    assert pid_file.running_pid() is None


def test_running_pid_ignores_dead_pid(tmp_path, dead_pid):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{dead_pid}\n")

    assert pid_file.running_pid() is None


def test_running_pid_ignores_own_pid(tmp_path):
    # A file that names the caller was left by an earlier process with the same pid.
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{os.getpid()}\n")

    assert pid_file.running_pid() is None


def test_running_pid_ignores_zombie(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "pass", "jobs_worker"])
    try:
        wait_for(lambda: proc_stat(process.pid)[0] == "Z", "the child to exit and become a zombie")
        pid_file = PidFile(tmp_path / "jobs_worker.pid")
        pid_file.path.write_text(f"{process.pid}\n")

        assert pid_file.running_pid() is None
    finally:
        process.wait(timeout=WAIT_TIMEOUT)


def test_create_writes_own_pid(tmp_path):
    pid_file = PidFile(tmp_path / "a" / "b" / "jobs_worker.pid")

    pid_file.create()

    assert pid_file.path.read_text() == f"{os.getpid()}\n"
    assert [path.name for path in pid_file.path.parent.iterdir()] == ["jobs_worker.pid"]


@pytest.mark.parametrize("content", ["dead", b"garbage\n", b"", "unrelated"])
def test_create_replaces_stale_file(tmp_path, caplog, dead_pid, unrelated_process, content):
    caplog.set_level(logging.INFO, logger="django_activejob")
    if content == "dead":
        content = f"{dead_pid}\n".encode()
    elif content == "unrelated":
        content = f"{unrelated_process.pid}\n".encode()
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_bytes(content)

    pid_file.create()

    assert pid_file.path.read_text() == f"{os.getpid()}\n"
    assert f"Removed the stale pid file {pid_file.path}" in caplog.text


def test_create_rejects_live_worker(tmp_path, fake_worker):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{fake_worker.pid}\n")

    with pytest.raises(AlreadyRunningError) as raised:
        pid_file.create()

    assert raised.value.pid == fake_worker.pid
    assert raised.value.path == pid_file.path
    assert f"already running as pid {fake_worker.pid}" in str(raised.value)
    assert str(pid_file.path) in str(raised.value)
    assert f"kill -TERM {fake_worker.pid}" in str(raised.value)
    assert pid_file.path.read_text() == f"{fake_worker.pid}\n"


def test_create_in_unwritable_place_raises(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    pid_file = PidFile(blocker / "pids" / "jobs_worker.pid")

    with pytest.raises(DaemonError, match=r"Could not write the pid file .*Not a directory"):
        pid_file.create()


def test_remove_deletes_own_file(tmp_path):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.create()

    pid_file.remove()

    assert not pid_file.path.exists()


def test_remove_leaves_other_pid(tmp_path, caplog, fake_worker):
    caplog.set_level(logging.INFO, logger="django_activejob")
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{fake_worker.pid}\n")

    pid_file.remove()

    assert pid_file.path.read_text() == f"{fake_worker.pid}\n"
    assert f"Left the pid file {pid_file.path} in place" in caplog.text


def test_remove_missing_file_or_directory(tmp_path):
    PidFile(tmp_path / "jobs_worker.pid").remove()
    PidFile(tmp_path / "missing" / "jobs_worker.pid").remove()

    assert list(tmp_path.iterdir()) == []


def test_remove_stale_rejects_live_worker(tmp_path, fake_worker):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{fake_worker.pid}\n")

    with pytest.raises(AlreadyRunningError):
        pid_file.remove_stale()

    assert pid_file.path.exists()


# find_pid_files


def test_find_pid_files(tmp_path):
    names = ["jobs_worker.pid", "jobs_worker.mail.pid", "jobs_worker.a%2Fb.pid", "jobs_worker.%2Ex.pid",
             "other.pid", "jobs_worker.log", "jobs_worker.pid.bak", "jobs_workerX.pid", "x.jobs_worker.pid"]
    for name in names:
        (tmp_path / name).write_text("1\n")
    (tmp_path / "jobs_worker.directory.pid").mkdir()
    long_name = pid_file_path(tmp_path, "é" * 255)
    long_name.write_text("1\n")

    found = find_pid_files(tmp_path)

    assert found == sorted(found, key=lambda pid_file: pid_file.path)
    assert {pid_file.path.name for pid_file in found} == {
        "jobs_worker.pid", "jobs_worker.mail.pid", "jobs_worker.a%2Fb.pid", "jobs_worker.%2Ex.pid",
        long_name.name,
    }


def test_find_pid_files_in_missing_directory(tmp_path):
    assert find_pid_files(tmp_path / "missing") == []
    assert find_pid_files(tmp_path) == []


# daemon_status


def test_status_not_running(tmp_path):
    status = daemon_status(PidFile(tmp_path / "jobs_worker.pid"))

    assert status.pid is None
    assert status.running is False
    assert status.stale is False
    assert status.exit_status == 3
    assert "not running: there is no pid file" in status.message


def test_status_stale_file_left_in_place(tmp_path, dead_pid):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{dead_pid}\n")

    status = daemon_status(pid_file)

    assert status.running is False
    assert status.stale is True
    assert status.exit_status == 1
    assert f"stale pid file {pid_file.path} contains '{dead_pid}'" in status.message
    assert pid_file.path.exists()


def test_status_running(tmp_path, fake_worker):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{fake_worker.pid}\n")

    status = daemon_status(pid_file)

    assert status.pid == fake_worker.pid
    assert status.exit_status == 0
    assert f"running as pid {fake_worker.pid}" in status.message


# Guards that raise before any fork


def test_start_rejects_bad_ready_timeout(tmp_path):
    for timeout in (0, -1, float("nan")):
        with pytest.raises(ValueError, match=r"ready_timeout=.* is invalid"):
            start_daemon(lambda: 0, pid_file=PidFile(tmp_path / "jobs_worker.pid"),
                         log_file=tmp_path / "log", ready_timeout=timeout)


def test_start_refuses_before_forking(tmp_path, fake_worker):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{fake_worker.pid}\n")

    with pytest.raises(AlreadyRunningError, match=f"already running as pid {fake_worker.pid}"):
        start_daemon(lambda: 0, pid_file=pid_file, log_file=tmp_path / "log")

    assert not (tmp_path / "log").exists()


def test_stop_rejects_bad_arguments(tmp_path):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")

    with pytest.raises(ValueError, match="timeout=-1 is invalid"):
        stop_daemon(pid_file, timeout=-1)
    with pytest.raises(ValueError, match="signum=999 is not a signal number"):
        stop_daemon(pid_file, timeout=1, signum=999)


# Starting real daemons


@pytest.mark.slow
def test_start_detaches_daemon(daemons):
    result = daemons.start("sleep")
    assert result.returncode == 0, result.stderr
    pid = started_pid(result.stdout)
    state, parent, process_group, session = proc_stat(pid)[:4]

    assert daemons.pid_file.read_text() == f"{pid}\n"
    assert is_jobs_worker(pid)
    assert state not in ("Z", "X")
    # A double fork: not a child of the test or of the fixture process, in a new session
    # that it doesn't lead, so it can't regain a controlling terminal.
    assert int(parent) not in (os.getpid(), pid)
    assert int(session) != os.getsid(0)
    assert int(session) != pid
    assert int(process_group) != os.getpgid(0)
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/1") == str(daemons.log_file)
    assert os.readlink(f"/proc/{pid}/fd/2") == str(daemons.log_file)
    # The fixture set umask 077 and ignored SIGINT and SIGTERM before starting.
    assert proc_status(pid, "Umask") == "0022"
    ignored = signal_mask(pid, "SigIgn")
    assert signal.SIGHUP in ignored
    assert signal.SIGINT not in ignored
    assert signal.SIGTERM not in ignored
    assert "connection closed before fork: True" in result.stdout
    assert f"Started the jobs_worker daemon pid={pid}" in daemons.log_file.read_text()


@pytest.mark.slow
def test_start_survives_sighup(daemons):
    pid = daemons.start_running("wait-for-sigterm")

    os.kill(pid, signal.SIGHUP)
    result = stop_daemon(PidFile(daemons.pid_file), timeout=WAIT_TIMEOUT)

    # SIGTERM, not SIGHUP, ended it: its handler ran and it exited normally.
    assert result.stopped is True
    assert "received SIGTERM" in daemons.log_file.read_text()
    assert "exiting with status 0" in daemons.log_file.read_text()


@pytest.mark.slow
def test_second_start_is_refused(daemons):
    first = daemons.start_running("sleep")

    result = daemons.start("sleep")

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"AlreadyRunningError pid={first}" in result.stderr
    assert f"already running as pid {first} (pid file {daemons.pid_file})" in result.stderr
    assert daemons.pid_file.read_text() == f"{first}\n"
    assert is_jobs_worker(first)


@pytest.mark.slow
def test_concurrent_starts_give_one_daemon(daemons):
    for round_number in range(3):
        pid_file = daemons.tmp_path / f"round{round_number}" / "jobs_worker.pid"
        processes = [
            subprocess.Popen(daemons.command("sleep", pid_file=pid_file), cwd=ROOT, env=FIXTURE_ENVIRONMENT,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        outputs = [process.communicate(timeout=WAIT_TIMEOUT) for process in processes]
        for stdout, _ in outputs:
            daemons.remember(stdout)

        codes = sorted(process.returncode for process in processes)
        assert codes == [0, 2, 2], outputs
        winner = next(started_pid(stdout) for stdout, _ in outputs if stdout.startswith("started"))
        assert pid_file.read_text() == f"{winner}\n"


@pytest.mark.slow
@pytest.mark.parametrize("stale", ["dead", "garbage", "empty", "unrelated"])
def test_start_replaces_stale_pid_file(daemons, dead_pid, unrelated_process, stale):
    contents = {"dead": f"{dead_pid}\n", "garbage": "not a pid\n", "empty": "",
                "unrelated": f"{unrelated_process.pid}\n"}
    daemons.pid_file.parent.mkdir()
    daemons.pid_file.write_text(contents[stale])

    result = daemons.start("sleep")

    assert result.returncode == 0, result.stderr
    pid = started_pid(result.stdout)
    assert daemons.pid_file.read_text() == f"{pid}\n"
    assert f"Removed the stale pid file {daemons.pid_file}" in result.stderr
    assert unrelated_process.poll() is None


@pytest.mark.slow
def test_start_with_identifier_pid_files(daemons):
    pid_dir = daemons.tmp_path / "pids"
    first = daemons.start_running("sleep", pid_file=pid_file_path(pid_dir, "mail/1"))
    second = daemons.start_running("sleep", pid_file=pid_file_path(pid_dir, None))

    found = find_pid_files(pid_dir)

    assert [pid_file.path.name for pid_file in found] == ["jobs_worker.mail%2F1.pid", "jobs_worker.pid"]
    assert [pid_file.running_pid() for pid_file in found] == [first, second]


@pytest.mark.slow
def test_start_appends_output_to_log_file(daemons):
    daemons.log_file = daemons.tmp_path / "deep" / "er" / "jobs_worker.log"
    daemons.log_file.parent.mkdir(parents=True)
    daemons.log_file.write_text("line from before\n")

    output, report = daemons.start_reaped("output")
    _, second_report = daemons.start_reaped("output")

    pid = started_pid(output)
    assert report["command"] == 0
    assert report["descendants"] == {str(pid): 0}
    assert second_report["command"] == 0
    log = daemons.log_file.read_text()
    assert log.startswith("line from before\n")
    assert log.count("fixture line on stdout\n") == 2
    assert log.count("fixture line on stderr\n") == 2
    assert log.count("fixture text without newline") == 2
    assert f"The jobs_worker daemon pid={pid} is exiting with status 0" in log
    assert not daemons.pid_file.exists()


@pytest.mark.slow
def test_start_creates_log_directories(daemons):
    daemons.log_file = daemons.tmp_path / "new" / "logs" / "jobs_worker.log"

    daemons.start_reaped("output")

    assert "fixture line on stdout" in daemons.log_file.read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "status"), [("return-3", 3), ("sys-exit-4", 4), ("raise", 1)])
def test_daemon_exits_with_run_status(daemons, mode, status):
    output, report = daemons.start_reaped(mode)

    pid = started_pid(output)
    assert report["command"] == 0
    assert report["descendants"] == {str(pid): status}
    assert f"The jobs_worker daemon pid={pid} is exiting with status {status}" in daemons.log_file.read_text()
    assert not daemons.pid_file.exists()


@pytest.mark.slow
def test_exception_in_run_is_logged_with_traceback(daemons):
    output, _ = daemons.start_reaped("raise")

    pid = started_pid(output)
    log = daemons.log_file.read_text()
    assert "Traceback (most recent call last):" in log
    assert "RuntimeError: fixture run failed" in log
    assert f"ERROR django_activejob.daemon: The jobs_worker daemon pid={pid} stopped on an unhandled RuntimeError" in log


@pytest.mark.slow
def test_start_reports_unwritable_log_file(daemons):
    blocker = daemons.tmp_path / "file"
    blocker.write_text("")
    log_file = blocker / "jobs_worker.log"

    result = daemons.start("sleep", log_file=log_file)

    assert result.returncode == 3, result.stdout + result.stderr
    assert f"The jobs_worker daemon did not start: Could not open the log file {log_file}: Not a directory" \
        in result.stderr
    assert not daemons.pid_file.exists()


@pytest.mark.slow
def test_start_reports_unwritable_pid_directory(daemons):
    blocker = daemons.tmp_path / "file"
    blocker.write_text("")
    pid_file = blocker / "pids" / "jobs_worker.pid"

    result = daemons.start("sleep", pid_file=pid_file)

    assert result.returncode == 3, result.stdout + result.stderr
    assert f"Could not write the pid file {pid_file}: Not a directory" in result.stderr


@pytest.mark.slow
def test_start_times_out_when_setup_hangs(daemons):
    # Opening a FIFO for writing blocks until a reader opens it, so the daemon never gets ready.
    daemons.log_file.parent.mkdir()
    os.mkfifo(daemons.log_file)

    result = daemons.start("sleep", ready_timeout=1)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "did not report ready within 1 s" in result.stderr
    pid = int(result.stderr.split("(pid ")[1].split(")")[0])
    daemons.pids.append(pid)
    assert is_fixture_process(pid)
    assert f"kill -TERM {pid}" in result.stderr
    assert not daemons.pid_file.exists()


# Stopping real daemons


@pytest.mark.slow
def test_stop_sends_sigterm_and_waits(daemons):
    pid = daemons.start_running("wait-for-sigterm")

    result = stop_daemon(PidFile(daemons.pid_file), timeout=WAIT_TIMEOUT)

    assert result.pid == pid
    assert result.stopped is True
    assert result.waited >= 0
    assert result.message.startswith(f"Stopped jobs_worker pid {pid} after ")
    assert not is_jobs_worker(pid)
    assert not daemons.pid_file.exists()
    assert "received SIGTERM" in daemons.log_file.read_text()


@pytest.mark.slow
def test_stop_removes_file_of_killed_daemon(daemons):
    # Without a handler, SIGTERM's default action ends the daemon before it can remove its file.
    pid = daemons.start_running("sleep")

    result = stop_daemon(PidFile(daemons.pid_file), timeout=WAIT_TIMEOUT)

    assert result.stopped is True
    assert result.pid == pid
    assert not is_jobs_worker(pid)
    assert not daemons.pid_file.exists()


@pytest.mark.slow
def test_stop_reports_daemon_ignoring_sigterm(daemons):
    pid = daemons.start_running("ignore-sigterm")
    wait_for(lambda: "ignoring SIGTERM" in daemons.log_file.read_text(), "the SIGTERM handler to be set")

    result = stop_daemon(PidFile(daemons.pid_file), timeout=1)

    assert result.pid == pid
    assert result.stopped is False
    assert result.waited >= 1
    assert f"jobs_worker pid {pid} is still running 1 s after SIGTERM" in result.message
    assert "SIGKILL as a last resort" in result.message
    assert is_fixture_process(pid)
    assert daemons.pid_file.read_text() == f"{pid}\n"

    killed = stop_daemon(PidFile(daemons.pid_file), timeout=WAIT_TIMEOUT, signum=signal.SIGKILL)

    assert killed.stopped is True
    assert not is_fixture_process(pid)
    assert not daemons.pid_file.exists()


def test_stop_when_not_running(tmp_path):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")

    result = stop_daemon(pid_file, timeout=5)

    assert result.pid is None
    assert result.stopped is True
    assert result.waited == 0
    assert result.message == f"jobs_worker is not running: there is no pid file {pid_file.path}."


@pytest.mark.parametrize("content", ["dead", "garbage"])
def test_stop_removes_stale_pid_file(tmp_path, caplog, dead_pid, content):
    caplog.set_level(logging.INFO, logger="django_activejob")
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    text = f"{dead_pid}" if content == "dead" else "garbage"
    pid_file.path.write_text(text + "\n")

    result = stop_daemon(pid_file, timeout=5)

    assert result.pid is None
    assert result.stopped is True
    assert f"removed the stale pid file {pid_file.path}, which contained {text!r}" in result.message
    assert not pid_file.path.exists()
    assert "Removed the stale pid file" in caplog.text


def test_stop_leaves_unrelated_process(tmp_path, unrelated_process):
    pid_file = PidFile(tmp_path / "jobs_worker.pid")
    pid_file.path.write_text(f"{unrelated_process.pid}\n")

    result = stop_daemon(pid_file, timeout=5)

    assert result.pid is None
    assert unrelated_process.poll() is None
    assert not pid_file.path.exists()
