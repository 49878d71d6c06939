"""Start a daemon with start_daemon for tests/test_daemon.py.

    python jobs_worker_fixture.py MODE --pid-file PATH --log-file PATH --database PATH
                                  [--ready-timeout SECONDS]

The file name contains "jobs_worker" because a pid file only counts as running when that
text is in the process's command line. MODE picks the daemon's ``run``; see RUNS.

Prints "started <pid>" and whether the database connection was closed before the fork,
then exits 0. When start_daemon raises, prints the message to stderr and exits 2 for
AlreadyRunningError, 3 for DaemonError.

Before starting, this process ignores SIGINT and SIGTERM and sets umask 077, as a shell
started with nohup might, so the tests can check that the daemon resets them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

import django
from django.conf import settings
from django.db import connection


def wait_for_sigterm() -> int:
    """Stop on SIGTERM through a handler of its own, as the worker does, and return 0."""
    received = []
    signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    print("waiting for SIGTERM", flush=True)
    while not received:
        time.sleep(0.05)
    print("received SIGTERM", flush=True)
    return 0


def sleep_forever() -> int:
    """Sleep with the signal dispositions the daemon set, so SIGTERM's default action ends it."""
    while True:
        time.sleep(1)


def ignore_sigterm() -> int:
    """Ignore SIGTERM, as a worker stuck in a job would seem to."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # No flush: the daemon makes stdout line-buffered, so the line reaches the log file.
    print("ignoring SIGTERM")
    while True:
        time.sleep(1)


def write_output() -> int:
    """Print to stdout and stderr without flushing, so the output is lost unless the daemon flushes."""
    print("fixture line on stdout")
    print("fixture line on stderr", file=sys.stderr)
    print("fixture text without newline", end="")
    return 0


def raise_error() -> int:
    raise RuntimeError("fixture run failed")


def return_3() -> int:
    return 3


def call_sys_exit() -> int:
    sys.exit(4)


RUNS = {
    "wait-for-sigterm": wait_for_sigterm,
    "sleep": sleep_forever,
    "ignore-sigterm": ignore_sigterm,
    "output": write_output,
    "raise": raise_error,
    "return-3": return_3,
    "sys-exit-4": call_sys_exit,
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=sorted(RUNS))
    parser.add_argument("--pid-file", type=Path, required=True)
    parser.add_argument("--log-file", type=Path, required=True)
    parser.add_argument("--ready-timeout", type=float, default=10.0)
    parser.add_argument("--database", type=Path, required=True, help="SQLite file to connect to.")
    options = parser.parse_args()

    settings.configure(
        INSTALLED_APPS=["django_activejob"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": str(options.database)}},
        USE_TZ=True,
    )
    django.setup()
    # The worker package imports models, so it can only be imported once Django is set up.
    from django_activejob.worker.daemon import AlreadyRunningError, DaemonError, PidFile, start_daemon

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(process)d %(levelname)s %(name)s: %(message)s")

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.umask(0o077)
    connection.ensure_connection()

    try:
        pid = start_daemon(RUNS[options.mode], pid_file=PidFile(options.pid_file),
                           log_file=options.log_file, ready_timeout=options.ready_timeout)
    except AlreadyRunningError as error:
        print(f"AlreadyRunningError pid={error.pid} path={error.path}: {error}", file=sys.stderr)
        return 2
    except DaemonError as error:
        print(f"DaemonError: {error}", file=sys.stderr)
        return 3

    print(f"started {pid}")
    print(f"connection closed before fork: {connection.connection is None}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
