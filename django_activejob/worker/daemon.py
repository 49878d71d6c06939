"""Run jobs_worker as a daemon with a pid file: start it in the background, stop it, report its status.

This is delayed_job's ``script/delayed_job start|stop|status``. ``start_daemon`` forks a
detached process that writes its pid to ``<pid_dir>/jobs_worker[.<identifier>].pid`` and
appends its output to a log file. ``stop_daemon`` sends SIGTERM to the pid in that file and
waits for the process to exit. POSIX only, because it needs ``os.fork``, ``os.setsid`` and
``fcntl.flock``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import logging
import os
import select
import signal
import sys
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from django.db import connections

from .. import log

PID_FILE_PREFIX = "jobs_worker"
PID_FILE_SUFFIX = ".pid"

#: The longest file name in bytes on Linux (NAME_MAX in <linux/limits.h>).
MAX_FILE_NAME_BYTES = 255

#: Separates a cut identifier from its hash in a pid file name. Percent-encoding always
#: encodes "+", so no uncut name contains it.
HASH_SEPARATOR = "+"

#: The largest pid_t value, a signed 32-bit integer on Linux and macOS.
MAX_PID = 2**31 - 1

#: A pid file longer than this many bytes is invalid. A pid and a newline need at most 11.
MAX_PID_FILE_BYTES = 64

#: Bytes in /proc/<pid>/cmdline that mark a process as a jobs_worker.
COMMAND_MARKER = b"jobs_worker"

#: Seconds between checks while waiting for a signalled daemon to exit.
STOP_POLL_INTERVAL = 0.1

#: Exit statuses of the ``status`` action, from LSB Core 3.1, section "Init Script Actions".
STATUS_RUNNING = 0
STATUS_DEAD_WITH_PID_FILE = 1
STATUS_NOT_RUNNING = 3


class DaemonError(Exception):
    """Raised when the daemon can't be started or stopped. The message names the cause and the fix."""


class AlreadyRunningError(Exception):
    """Raised when a pid file names a running jobs_worker."""

    def __init__(self, pid: int, path: Path) -> None:
        self.pid = pid
        self.path = Path(path)
        super().__init__(
            f"jobs_worker is already running as pid {pid} (pid file {path}). Stop it first with "
            f"'jobs_worker stop' or 'kill -TERM {pid}', or give the new worker another identifier."
        )


def pid_file_path(pid_dir: Path, identifier: str | None) -> Path:
    """Return the pid file of the worker named ``identifier`` in ``pid_dir``.

    ``None`` gives ``jobs_worker.pid`` and an identifier gives ``jobs_worker.<identifier>.pid``,
    as delayed_job's ``--identifier`` does. The identifier is percent-encoded as UTF-8, so any
    character except ASCII letters, digits, ``-``, ``_``, ``.`` and ``~`` becomes ``%XX``, and so
    does a leading ``.``. Two identifiers therefore never share a file, and the name never
    contains a path separator. A name longer than 255 bytes is cut and ends with ``+`` and a
    hash of the identifier.

    >>> pid_file_path(Path("/run/app"), "mail/1")
    PosixPath('/run/app/jobs_worker.mail%2F1.pid')
    """
    if identifier is None:
        return Path(pid_dir) / f"{PID_FILE_PREFIX}{PID_FILE_SUFFIX}"
    if identifier == "":
        raise ValueError(
            "The pid file identifier is empty: pass None for jobs_worker.pid, or a name such as 'mail_1'."
        )

    # surrogatepass keeps undecodable command line bytes (surrogate escapes) distinct.
    encoded = urllib.parse.quote(identifier, safe="", errors="surrogatepass")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    name = f"{PID_FILE_PREFIX}.{encoded}{PID_FILE_SUFFIX}"

    if len(name) > MAX_FILE_NAME_BYTES:
        digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        tail = f"{HASH_SEPARATOR}{digest}{PID_FILE_SUFFIX}"
        head = f"{PID_FILE_PREFIX}.{encoded}"[: MAX_FILE_NAME_BYTES - len(tail)]
        name = head + tail
    return Path(pid_dir) / name


def find_pid_files(pid_dir: Path) -> list[PidFile]:
    """Return the pid files in ``pid_dir`` that ``pid_file_path`` names, sorted by path.

    A missing directory has none.
    """
    pid_dir = Path(pid_dir)
    if not pid_dir.is_dir():
        return []
    paths = [pid_dir / f"{PID_FILE_PREFIX}{PID_FILE_SUFFIX}"]
    paths += pid_dir.glob(f"{PID_FILE_PREFIX}.*{PID_FILE_SUFFIX}")
    return [PidFile(path) for path in sorted(paths) if path.is_file()]


@dataclass
class PidFile:
    """The pid file of one daemon: ``path`` contains its pid in decimal and a newline.

    Changes happen under an exclusive ``flock`` on the file's directory, so two processes
    starting at once can't both take the file, and ``stop`` can't delete a file that a new
    daemon has just written.
    """

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def read(self) -> int | None:
        """Return the pid in the file, or None when the file is missing or contains no valid pid.

        Raises DaemonError when the file exists but can't be read.
        """
        content = self._read_content()
        return None if content is None else _parse_pid(content)

    def running_pid(self) -> int | None:
        """Return the pid in the file if it is a running jobs_worker, else None.

        A pid counts as a jobs_worker when the process is alive, isn't a zombie, and, on
        Linux, has "jobs_worker" in ``/proc/<pid>/cmdline``. That check keeps a file left by a
        crash from matching an unrelated process that got the same pid later. The calling
        process's own pid counts as not running, because a file that names it was left by an
        earlier process with the same pid, which is common in containers. So ask from the
        controlling process, not from the daemon itself.
        """
        pid = self.read()
        if pid is None or pid == os.getpid() or not is_jobs_worker(pid):
            return None
        return pid

    def create(self) -> None:
        """Write this process's pid to the file, creating its directory with parents.

        A stale file (no valid pid, or a pid that is not a running jobs_worker) is replaced
        and logged. Raises AlreadyRunningError when the file names a running jobs_worker,
        and DaemonError when the directory or the file can't be written.
        """
        directory = self.path.parent
        try:
            _make_directory(directory)
        except OSError as error:
            raise self._write_error(error) from error

        with _locked_directory(directory) as directory_fd:
            self._remove_stale()

            # O_EXCL makes the create fail rather than overwrite a file that another
            # program, which doesn't take the lock, wrote since the check.
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except OSError as error:
                raise self._write_error(error) from error
            try:
                os.write(fd, f"{os.getpid()}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.fsync(directory_fd)

    def remove(self) -> None:
        """Delete the file if it still contains this process's pid, else leave it and log why."""
        self.remove_if_contains(os.getpid())

    def remove_if_contains(self, pid: int) -> None:
        """Delete the file if it contains ``pid``; a file with other content is left and logged."""
        directory = self.path.parent
        if not directory.is_dir():
            return
        with _locked_directory(directory) as directory_fd:
            content = self._read_content()
            if content is None:
                return
            if _parse_pid(content) != pid:
                log.pid_file_not_removed(self.path, _describe_content(content), pid)
                return
            self.path.unlink(missing_ok=True)
            os.fsync(directory_fd)

    def remove_stale(self) -> str | None:
        """Delete the file unless it names a running jobs_worker, and return what it contained.

        Returns None when there was no file. Raises AlreadyRunningError when the file names
        a running jobs_worker.
        """
        directory = self.path.parent
        if not directory.is_dir():
            return None
        with _locked_directory(directory):
            return self._remove_stale()

    def _remove_stale(self) -> str | None:
        content = self._read_content()
        if content is None:
            return None

        pid = _parse_pid(content)
        if pid is not None and pid != os.getpid() and is_jobs_worker(pid):
            raise AlreadyRunningError(pid, self.path)

        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            raise self._write_error(error) from error
        described = _describe_content(content)
        log.stale_pid_file_removed(self.path, described)
        return described

    def _read_content(self) -> bytes | None:
        try:
            with open(self.path, "rb") as file:
                return file.read(MAX_PID_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DaemonError(
                f"Could not read the pid file {self.path}: {error.strerror or error}. "
                f"Run this as the user who started the worker, or remove the file if no worker runs."
            ) from error

    def _write_error(self, error: OSError) -> DaemonError:
        return DaemonError(
            f"Could not write the pid file {self.path}: {error.strerror or error}. "
            f"Choose a pid directory that this user can write to."
        )


def _parse_pid(content: bytes) -> int | None:
    text = content.strip()
    if len(content) > MAX_PID_FILE_BYTES or not text.isdigit():
        return None
    pid = int(text)
    return pid if 1 <= pid <= MAX_PID else None


def _describe_content(content: bytes) -> str:
    return content.strip().decode("utf-8", "replace")[:MAX_PID_FILE_BYTES]


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        # mkdir reports "File exists" when the path is a file, so report "Not a directory" instead.
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory)) from None


@contextlib.contextmanager
def _locked_directory(directory: Path) -> Iterator[int]:
    """Hold an exclusive flock on ``directory`` and yield its file descriptor."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        raise DaemonError(
            f"Could not open the pid directory {directory}: {error.strerror or error}. "
            f"Choose a pid directory that this user can read and write."
        ) from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            raise DaemonError(
                f"Could not lock the pid directory {directory}: {error.strerror or error}. "
                f"Choose a pid directory on a local file system."
            ) from error
        yield fd
    finally:
        # Closing the descriptor releases the lock.
        os.close(fd)


def is_jobs_worker(pid: int) -> bool:
    """Return whether ``pid`` is a live process that looks like a jobs_worker.

    A zombie, which has exited but was not reaped, is not live. On Linux the process must
    also have "jobs_worker" in ``/proc/<pid>/cmdline``; when that file can't be read
    (another user's process under ``hidepid``), any live process counts.
    """
    if not _is_alive(pid):
        return False
    command_line = _command_line(pid)
    return command_line is None or COMMAND_MARKER in command_line


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # The process exists but belongs to another user.
    return _process_state(pid) not in ("Z", "X")


def _process_state(pid: int) -> str:
    """Return the state letter from ``/proc/<pid>/stat`` ("Z" for a zombie), or "" when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name in brackets may contain spaces and ")", so split after the last ")".
    fields = stat.rpartition(")")[2].split()
    return fields[0] if fields else ""


def _command_line(pid: int) -> bytes | None:
    # NOTE: without /proc (macOS, the BSDs) the command line isn't checked, so a reused pid
    # of an unrelated process reads as a running jobs_worker.
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


# Starting.


def start_daemon(
    run: Callable[[], int], *, pid_file: PidFile, log_file: Path, ready_timeout: float = 10.0
) -> int:
    """Run ``run()`` in a detached daemon process and return the daemon's pid once it is ready.

    The daemon is a double fork with ``setsid`` in between, so it belongs to no terminal
    and is not a child of the caller. Before ``run()`` starts, it sets umask 022, reads
    stdin from /dev/null, appends stdout and stderr to ``log_file`` (creating its parent
    directories), writes ``pid_file``, ignores SIGHUP and resets SIGINT and SIGTERM to
    their default actions. ``run()`` may install its own handlers. The daemon keeps the
    caller's working directory, so relative paths in settings still work. It also keeps
    every other file descriptor that the caller had open.

    When ``run()`` returns, the daemon removes its pid file and exits with the returned
    status. ``sys.exit(n)`` inside ``run()`` exits with ``n``. An exception is written
    to the log file with its traceback, logged, and exits with 1. The daemon ends with
    ``os._exit``, so atexit handlers don't run in it.

    Raises AlreadyRunningError when ``pid_file`` names a running jobs_worker, before or
    after the fork, and DaemonError when the daemon failed before it was ready or didn't
    report ready within ``ready_timeout`` seconds. A stale pid file is removed and logged.

    Example::

        pid = start_daemon(worker.run, pid_file=PidFile(pid_file_path(Path("tmp/pids"), None)),
                           log_file=Path("log/jobs_worker.log"))
    """
    if not ready_timeout > 0:
        raise ValueError(f"ready_timeout={ready_timeout!r} is invalid: pass a number of seconds above 0.")
    log_file = Path(log_file)

    # Checking here gives the error in the caller's terminal. It also clears a stale file
    # that names this process, which would look live to the daemon, whose parent this is.
    pid_file.remove_stale()

    # A database socket shared by parent and daemon would mix their traffic.
    connections.close_all()
    _flush_output()

    read_fd, write_fd = os.pipe()
    try:
        child = os.fork()
    except OSError as error:
        os.close(read_fd)
        os.close(write_fd)
        raise DaemonError(f"Could not fork the jobs_worker daemon: {error.strerror or error}.") from error
    if child == 0:
        os.close(read_fd)
        _detach(write_fd, run, pid_file, log_file)

    os.close(write_fd)
    try:
        report, finished = _read_report(read_fd, ready_timeout)
    finally:
        os.close(read_fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    return _daemon_pid(report, finished, pid_file, log_file, ready_timeout)


def _detach(write_fd: int, run: Callable[[], int], pid_file: PidFile, log_file: Path) -> NoReturn:
    """Start a new session, fork the daemon and exit, so the daemon can't regain a terminal."""
    status = 1
    try:
        os.setsid()
        if os.fork() == 0:
            _run_daemon(write_fd, run, pid_file, log_file)
        status = 0
    except BaseException as error:
        _send(write_fd, f"error Could not detach from the terminal: {error}")
    finally:
        # Never return into the caller's stack: that would run its code twice.
        os._exit(status)


def _run_daemon(write_fd: int, run: Callable[[], int], pid_file: PidFile, log_file: Path) -> NoReturn:
    status = 1
    try:
        _send(write_fd, f"pid {os.getpid()}\n")
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.umask(0o022)

        # A failure here goes back to the caller through the pipe, so it isn't printed.
        try:
            _redirect_output(log_file)
            pid_file.create()
        except AlreadyRunningError as error:
            _send(write_fd, f"already_running {error.pid}\n")
            _exit(1)
        except Exception as error:
            _send(write_fd, f"error {error}")
            _exit(1)

        _send(write_fd, "ready\n")
        os.close(write_fd)
        log.daemon_started(os.getpid(), pid_file.path, log_file)

        try:
            status = _call(run)
        finally:
            pid_file.remove()
        log.daemon_exiting(os.getpid(), status)
    except BaseException:
        traceback.print_exc()
    finally:
        _exit(status)


def _exit(status: int) -> NoReturn:
    """Flush output and end the process with ``status``, skipping the caller's cleanup code.

    The daemon is a copy of the caller, so ``sys.exit`` would run the caller's ``finally``
    blocks and atexit handlers a second time.
    """
    _flush_output()
    logging.shutdown()
    os._exit(status)


def _redirect_output(log_file: Path) -> None:
    """Read stdin from /dev/null and append stdout and stderr to ``log_file``.

    The caller's descriptors are replaced with /dev/null first, so a program that waits for
    the caller's output to end (a pipe, an ssh session) doesn't wait on the daemon, even
    when opening the log file blocks or fails.
    """
    null_fd = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null_fd, fd)
    if null_fd > 2:
        os.close(null_fd)

    try:
        _make_directory(log_file.parent)
        log_fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as error:
        raise DaemonError(
            f"Could not open the log file {log_file}: {error.strerror or error}. "
            f"Choose a log file in a directory that this user can write to."
        ) from error
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    if log_fd > 2:
        os.close(log_fd)

    # sys.stdout keeps the buffering mode it got at startup, which is block buffering on
    # a pipe. Line buffering puts each line in the log file as soon as it is printed.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)


def _call(run: Callable[[], int]) -> int:
    """Call ``run`` and return the exit status it gives, the way the interpreter would."""
    try:
        result: object = run()
    except SystemExit as exit_request:
        result = exit_request.code
    except Exception as error:
        traceback.print_exc()
        log.daemon_run_failed(os.getpid(), error)
        return 1

    if result is None:
        return 0
    if isinstance(result, int) and 0 <= result <= 255:
        return result
    print(f"jobs_worker daemon: run() gave {result!r}, which is not an exit status; exiting with 1",
          file=sys.stderr)
    return 1


def _send(write_fd: int, message: str) -> None:
    data = message.encode("utf-8", "replace")
    try:
        while data:
            data = data[os.write(write_fd, data):]
    except OSError:
        pass  # The caller timed out or was interrupted. The daemon carries on without it.


def _read_report(read_fd: int, timeout: float) -> tuple[str, bool]:
    """Read the daemon's report until it is complete or ``timeout`` seconds pass.

    Returns the text and whether it is complete. The daemon sends "pid <n>" and then one
    of "ready", "already_running <pid>" or "error <text>", each ending with a newline
    except the error, which ends when the pipe closes.
    """
    deadline = time.monotonic() + timeout
    data = b""
    while not _report_complete(data):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data.decode("utf-8", "replace"), False
        readable, _, _ = select.select([read_fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace"), True


def _report_complete(data: bytes) -> bool:
    last_line = data.rstrip(b"\n").rpartition(b"\n")[2]
    return data.endswith(b"\n") and (last_line == b"ready" or last_line.startswith(b"already_running "))


def _daemon_pid(report: str, finished: bool, pid_file: PidFile, log_file: Path, ready_timeout: float) -> int:
    """Return the daemon's pid if its report is "ready", else raise the error that the report names."""
    pid: int | None = None
    if report.startswith("pid "):
        first_line, _, report = report.partition("\n")
        pid = int(first_line.removeprefix("pid "))

    if report == "ready\n" and pid is not None:
        return pid
    if report.startswith("already_running "):
        raise AlreadyRunningError(int(report.removeprefix("already_running ").strip()), pid_file.path)
    if report.startswith("error "):
        raise DaemonError(f"The jobs_worker daemon did not start: {report.removeprefix('error ').strip()}")

    if not finished and pid is not None:
        raise DaemonError(
            f"The jobs_worker daemon (pid {pid}) did not report ready within {ready_timeout:g} s "
            f"and may still be starting. Check {log_file}, and stop it with 'kill -TERM {pid}' "
            f"if it should not run."
        )
    if not finished:
        raise DaemonError(f"The jobs_worker daemon did not start within {ready_timeout:g} s.")
    raise DaemonError(
        f"The jobs_worker daemon{f' (pid {pid})' if pid else ''} exited before it was ready. "
        f"Its output, if any, is in {log_file}."
    )


def _flush_output() -> None:
    """Flush Python's buffers, so a fork doesn't copy unwritten output and os._exit doesn't lose it."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):
                stream.flush()


# Stopping and status.


@dataclass
class StopResult:
    """The outcome of ``stop_daemon``.

    ``pid`` is the signalled daemon, or None when none was running. ``stopped`` is
    whether no daemon runs now, and ``waited`` is how many seconds ``stop_daemon``
    waited for it to exit. ``message`` is one sentence for the operator.
    """

    pid: int | None
    stopped: bool
    waited: float
    message: str


def stop_daemon(pid_file: PidFile, *, timeout: float, signum: int = signal.SIGTERM) -> StopResult:
    """Send ``signum`` to the daemon in ``pid_file`` and wait up to ``timeout`` seconds for it to exit.

    When no jobs_worker runs, a stale pid file is removed and the result says so. Once the
    daemon has exited, its pid file is removed if it is still there (after SIGKILL, or when
    SIGTERM's default action ended a process without a handler). A daemon still running
    after ``timeout`` gives ``stopped=False``. A worker may take that long to finish its
    job, and a second SIGTERM makes it stop at once. Raises DaemonError when the process
    belongs to another user.
    """
    if not timeout >= 0:
        raise ValueError(f"timeout={timeout!r} is invalid: pass a number of seconds, 0 or more.")
    try:
        signal_name = signal.Signals(signum).name
    except ValueError:
        raise ValueError(
            f"signum={signum!r} is not a signal number: pass one such as signal.SIGTERM."
        ) from None

    pid = pid_file.running_pid()
    if pid is None:
        try:
            removed = pid_file.remove_stale()
        except AlreadyRunningError as error:
            # A daemon started between the two checks; stop that one.
            pid = error.pid
        else:
            return StopResult(None, True, 0.0, _not_running_message(pid_file, removed))

    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # It exited since the check; the loop below finds it gone.
    except PermissionError as error:
        raise DaemonError(
            f"Could not send {signal_name} to jobs_worker pid {pid}: it belongs to another user. "
            f"Run this as that user or as root."
        ) from error
    log.daemon_stop_sent(pid, signal_name, pid_file.path)

    started = time.monotonic()
    while is_jobs_worker(pid):
        waited = time.monotonic() - started
        if waited >= timeout:
            log.daemon_stop_timed_out(pid, signal_name, waited)
            return StopResult(pid, False, waited, (
                f"jobs_worker pid {pid} is still running {timeout:g} s after {signal_name}; it may be "
                f"finishing a job. Send SIGTERM again to stop it at once, or SIGKILL as a last resort "
                f"(kill -KILL {pid})."
            ))
        time.sleep(min(STOP_POLL_INTERVAL, timeout - waited))

    waited = time.monotonic() - started
    pid_file.remove_if_contains(pid)
    log.daemon_stopped(pid, waited)
    return StopResult(pid, True, waited, f"Stopped jobs_worker pid {pid} after {waited:.1f} s.")


def _not_running_message(pid_file: PidFile, removed: str | None) -> str:
    if removed is None:
        return f"jobs_worker is not running: there is no pid file {pid_file.path}."
    return (
        f"jobs_worker is not running: removed the stale pid file {pid_file.path}, which contained "
        f"{removed!r} and no running jobs_worker has that pid."
    )


@dataclass
class DaemonStatus:
    """The state of the daemon behind one pid file.

    ``pid`` is the running daemon, or None. ``stale`` is true when the file exists but
    names no running jobs_worker. ``exit_status`` follows the LSB init script ``status``
    action: 0 running, 1 not running with a pid file left, 3 not running.
    """

    path: Path
    pid: int | None
    stale: bool
    message: str

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def exit_status(self) -> int:
        if self.running:
            return STATUS_RUNNING
        return STATUS_DEAD_WITH_PID_FILE if self.stale else STATUS_NOT_RUNNING


def daemon_status(pid_file: PidFile) -> DaemonStatus:
    """Return whether the daemon of ``pid_file`` runs, without changing the file."""
    pid = pid_file.running_pid()
    if pid is not None:
        return DaemonStatus(pid_file.path, pid, False, f"jobs_worker is running as pid {pid} "
                                                       f"(pid file {pid_file.path}).")
    content = pid_file._read_content()
    if content is None:
        return DaemonStatus(pid_file.path, None, False,
                            f"jobs_worker is not running: there is no pid file {pid_file.path}.")
    return DaemonStatus(pid_file.path, None, True, (
        f"jobs_worker is not running, but the stale pid file {pid_file.path} contains "
        f"{_describe_content(content)!r}; the next start or stop removes it."
    ))
