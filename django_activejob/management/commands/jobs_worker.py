"""``manage.py jobs_worker``: perform jobs from the database queue."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, Error, connections
from django.db.models import Q

from ... import conf
from ...queues import split_queue_names
from ...worker import Worker, WorkerOptions, daemon
from ...worker.heartbeat import WorkerConflictError
from ...worker.pools import (
    MAX_PROCESSES,
    POOL_OPTIONS,
    Pool,
    PoolError,
    check_total,
    load_config,
    parse_pool,
)
from ...worker.supervisor import Supervisor
from ...worker.worker import MAX_SLEEP_DELAY, default_identifier, validate_identifier

#: Seconds start watches a new daemon, so one that exits at once is reported.
STARTUP_CHECK = 1.5

#: Lines of the log file shown when a new daemon exited at once.
LOG_TAIL_LINES = 20

#: delayed_job's places for pid files and the daemon's log, relative to the working directory.
DEFAULT_PID_DIR = "tmp/pids"
DEFAULT_LOG_FILE = "log/jobs_worker.log"


#: The command's actions, as delayed_job's script/delayed_job takes them.
ACTIONS = ("run", "start", "stop", "restart", "status")


class Command(BaseCommand):
    help = (
        "Perform jobs from the DelayedJob table. 'run' (the default) works in the foreground until "
        "SIGTERM or SIGINT (Ctrl+C); 'start' runs the same as a daemon with a pid file; 'stop', "
        "'restart' and 'status' control that daemon. With --processes, --pool or --config, a "
        "supervisor forks and watches several worker processes."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("action", nargs="?", default="run", choices=ACTIONS,
                            help="run (default), start, stop, restart or status.")
        add_worker_arguments(parser)
        self.add_control_arguments(parser)

    def add_control_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add the options of the supervisor and of daemon control, which jobs_workoff lacks."""
        parser.add_argument("--exit-on-complete", action="store_true",
                            help="Exit once no job is ready, instead of waiting for more.")
        parser.add_argument(
            "-n", "--processes", type=int, default=None, metavar="N",
            help="Fork N worker processes on the queues given, under a supervisor that restarts "
                 "any that die.",
        )
        parser.add_argument(
            "--pool", action="append", default=None, metavar="QUEUES[:N]",
            help="A pool of N worker processes (default 1) on comma-separated queues, '*' for all; "
                 "repeatable, e.g. --pool 'mailers:2' --pool '*'.",
        )
        parser.add_argument("--config", default=None, metavar="FILE",
                            help="A YAML file that names the pools and their options; see docs/worker.md.")
        parser.add_argument("--pid-dir", default=None, metavar="DIR",
                            help="Directory of pid files for start, stop, restart and status. "
                                 f"Default: {DEFAULT_PID_DIR}. With run, writes a pid file only when given.")
        parser.add_argument("--log-file", default=None, metavar="FILE",
                            help="Where a daemon started with start writes its output. "
                                 f"Default: {DEFAULT_LOG_FILE}.")
        parser.add_argument(
            "--timeout", type=float, default=None, metavar="SECONDS",
            help="How long stop and restart wait for the worker to exit. Default: "
                 "ACTIVEJOB['SHUTDOWN_TIMEOUT'] + ACTIVEJOB['INTERRUPT_GRACE'] + 15.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "status":
            sys.exit(self.status(options))
        if action == "stop":
            self.stop(options)
            return

        runner = self.runner(options)
        if action == "start":
            # A daemon's own pid file gives a better message than its worker rows.
            pid_file = self.pid_file(options)
            running = pid_file.running_pid()
            if running is not None:
                raise CommandError(str(daemon.AlreadyRunningError(running, pid_file.path)))
        self.preflight(options)
        if action == "run":
            self.configure_logging(options["verbosity"])
            status = self.run_with_pid_file(runner, options)
        else:
            if action == "restart":
                self.stop(options)
            status = self.start(runner, options)
        if status:
            sys.exit(status)

    # Actions

    def run_with_pid_file(self, runner: Callable[[], int], options: dict[str, Any]) -> int:
        if options["pid_dir"] is None:
            return runner()
        pid_file = self.pid_file(options)
        try:
            pid_file.create()
        except daemon.AlreadyRunningError as exc:
            raise CommandError(str(exc)) from None
        try:
            return runner()
        finally:
            pid_file.remove()

    def start(self, runner: Callable[[], int], options: dict[str, Any]) -> int:
        pid_file = self.pid_file(options)
        log_file = Path(options["log_file"] or DEFAULT_LOG_FILE)

        def run_daemon() -> int:
            self.configure_logging(options["verbosity"], stream=sys.stdout)
            return runner()

        try:
            pid = daemon.start_daemon(run_daemon, pid_file=pid_file, log_file=log_file)
        except (daemon.AlreadyRunningError, daemon.DaemonError) as exc:
            raise CommandError(str(exc)) from None
        self.check_still_running(pid, log_file)
        self.stdout.write(
            f"Started jobs_worker {self.name(options)} as pid {pid} (pid file {pid_file.path}, "
            f"log {log_file})."
        )
        return 0

    def check_still_running(self, pid: int, log_file: Path) -> None:
        """Raise CommandError with the end of the log if the daemon exited right after it started."""
        deadline = time.monotonic() + STARTUP_CHECK
        while time.monotonic() < deadline:
            if not daemon.is_jobs_worker(pid):
                try:
                    tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
                except OSError:
                    tail = "(the log file can't be read)"
                raise CommandError(
                    f"jobs_worker pid {pid} exited right after it started. The end of {log_file}:\n{tail}"
                )
            time.sleep(0.1)

    def preflight(self, options: dict[str, Any]) -> None:
        """Refuse to run without the tables, or under the identifier of a live worker.

        When the database can't be reached, the worker starts anyway and
        keeps trying, so the check is skipped.
        """
        from ...models import DelayedJob, WorkerProcess
        from ...worker.heartbeat import process_exists

        database = options["database"] or conf.get("DATABASE")
        connection = connections[database]
        try:
            tables = set(connection.introspection.table_names())
        except Error:
            return
        missing = {DelayedJob._meta.db_table, WorkerProcess._meta.db_table} - tables
        if missing:
            raise CommandError(
                f"The table(s) {', '.join(sorted(missing))} are missing in database {database!r}: run "
                f"'python manage.py migrate' first."
            )

        identifier = options["identifier"]
        if identifier is None:
            return
        supervised = any(options.get(name) is not None for name in ("processes", "pool", "config"))
        names = Q(identifier=identifier)
        if supervised:
            names |= Q(identifier__startswith=f"{identifier}.")
        hostname = socket.gethostname()[:255]
        try:
            rows = list(WorkerProcess.objects.using(database).alive().filter(names))
        except Error:
            return
        for row in rows:
            if row.hostname == hostname and not process_exists(row.pid):
                continue
            where = "this host" if row.hostname == hostname else f"host {row.hostname!r}"
            raise CommandError(
                f"A worker with the identifier {row.identifier!r} is already running as pid {row.pid} "
                f"on {where}. Stop it first, or pass another --identifier."
            )

    def stop(self, options: dict[str, Any]) -> None:
        timeout = options["timeout"]
        if timeout is None:
            timeout = conf.get("SHUTDOWN_TIMEOUT") + conf.get("INTERRUPT_GRACE") + 15
        elif not timeout >= 0:
            raise CommandError(f"--timeout {timeout} is invalid: pass a number of seconds, 0 or more.")
        pid_file = self.pid_file(options)
        self.check_other_pid_files(options, pid_file)
        try:
            result = daemon.stop_daemon(pid_file, timeout=timeout)
        except daemon.DaemonError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(result.message)
        if not result.stopped:
            self.stdout.write(
                "Running 'jobs_worker stop' again sends a second SIGTERM, which interrupts the running "
                "job; it runs again on another worker, with the attempt counted."
            )
            sys.exit(1)

    def check_other_pid_files(self, options: dict[str, Any], pid_file: daemon.PidFile) -> None:
        """Without --identifier and without jobs_worker.pid, name the daemons that do have pid files."""
        if options["identifier"] is not None or pid_file.path.exists():
            return
        others = daemon.find_pid_files(pid_file.path.parent)
        if others:
            names = ", ".join(str(other.path) for other in others)
            raise CommandError(
                f"There is no pid file {pid_file.path}, but there are: {names}. Pass the --identifier "
                f"that the worker was started with."
            )

    def status(self, options: dict[str, Any]) -> int:
        """Print each daemon and the worker processes in the database; return the LSB status."""
        pid_dir = Path(options["pid_dir"] or DEFAULT_PID_DIR)
        if options["identifier"] is not None:
            pid_files = [self.pid_file(options)]
        else:
            # Every daemon in the directory, or the message that none runs.
            pid_files = daemon.find_pid_files(pid_dir) or [self.pid_file(options)]
        statuses = [daemon.daemon_status(pid_file) for pid_file in pid_files]
        for status in statuses:
            self.stdout.write(status.message)

        database = options["database"] or conf.get("DATABASE")
        self.check_database(database)
        self.write_worker_processes(database)
        return min(status.exit_status for status in statuses)

    def write_worker_processes(self, database: str) -> None:
        from django.utils import timezone

        from ...models import DelayedJob, WorkerProcess

        now = timezone.now()
        try:
            workers = list(WorkerProcess.objects.using(database).order_by("hostname", "identifier"))
            running = dict(
                DelayedJob.objects.using(database).filter(locked_by__in=[w.identifier for w in workers])
                .values_list("locked_by", "job_class")
            )
        except DatabaseError as exc:
            self.stderr.write(f"Could not read worker processes from database {database!r}: {exc}")
            return
        if not workers:
            self.stdout.write("No worker process has a row in the database.")
            return
        self.stdout.write(f"Worker processes in database {database!r}:")
        for worker in workers:
            state = "alive" if worker.is_alive(now) else "dead"
            age = (now - worker.heartbeat_at).total_seconds()
            job = running.get(worker.identifier, "idle")
            self.stdout.write(
                f"  {worker.identifier}  pid {worker.pid} on {worker.hostname}  queues {worker.queues}  "
                f"{state} (heartbeat {age:.0f} s ago)  running: {job}"
            )

    # Options

    def runner(self, options: dict[str, Any]) -> Callable[[], int]:
        """Validate the command line and return what runs the worker or the supervisor."""
        worker_options = self.worker_options(options)
        pools = self.pools(options, worker_options)
        if pools is None:
            def work() -> int:
                try:
                    return Worker(worker_options).run()
                except WorkerConflictError as exc:
                    raise CommandError(str(exc)) from None

            return work

        def supervise() -> int:
            identifier = options["identifier"] or default_identifier()
            return Supervisor(pools, worker_options, identifier).run()

        return supervise

    def pools(self, options: dict[str, Any], worker_options: WorkerOptions) -> list[Pool] | None:
        """Return the pools to fork, or None to run one worker in this process."""
        given = [name for name in ("processes", "pool", "config") if options[name] is not None]
        if len(given) > 1:
            raise CommandError(
                f"--{given[0]} and --{given[1]} can't be combined: name the processes in one way."
            )
        if not given:
            return None
        if options["exit_on_complete"]:
            raise CommandError("--exit-on-complete can't be used with a supervisor; use jobs_workoff.")
        try:
            if options["processes"] is not None:
                processes = options["processes"]
                if not 1 <= processes <= MAX_PROCESSES:
                    raise PoolError(f"--processes {processes} is invalid: use 1 to {MAX_PROCESSES}.")
                pools = [Pool(queues=worker_options.queues, processes=processes)]
            elif options["pool"] is not None:
                if worker_options.queues:
                    raise PoolError("--queue can't be combined with --pool: name the queues in each --pool.")
                pools = [parse_pool(value) for value in options["pool"]]
            else:
                if worker_options.queues:
                    raise PoolError("--queue can't be combined with --config: name the queues in the file.")
                given_here = [name for name in POOL_OPTIONS if options[name] is not None]
                if given_here:
                    flags = ", ".join(f"--{name.replace('_', '-')}" for name in given_here)
                    raise PoolError(
                        f"{flags} can't be combined with --config: set {', '.join(given_here)} in the "
                        f"file, at the top for every pool or in a pool for that pool."
                    )
                pools, _ = load_config(Path(options["config"]))
            check_total(pools)
        except PoolError as exc:
            raise CommandError(str(exc)) from None
        return pools

    def identifier(self, options: dict[str, Any]) -> str | None:
        """Return the --identifier value, checked, or None when it is not given."""
        identifier = options["identifier"]
        if identifier is not None:
            try:
                validate_identifier(identifier)
            except ValueError as exc:
                raise CommandError(f"--identifier: {exc}") from None
        return identifier

    def pid_file(self, options: dict[str, Any]) -> daemon.PidFile:
        identifier = self.identifier(options)
        pid_dir = Path(options["pid_dir"] or DEFAULT_PID_DIR)
        return daemon.PidFile(daemon.pid_file_path(pid_dir, identifier))

    def name(self, options: dict[str, Any]) -> str:
        return repr(options["identifier"]) if options["identifier"] else "(no identifier)"

    def check_database(self, database: str) -> None:
        if database not in connections.settings:
            raise CommandError(
                f"--database {database!r} is not in DATABASES; use one of {sorted(connections.settings)}."
            )

    def worker_options(self, options: dict[str, Any]) -> WorkerOptions:
        """Validate the command line and return the worker's options."""
        queue_options = [("--queue", value) for value in options["queue"] or []]
        if options["queues"] is not None:
            queue_options.append(("--queues", options["queues"]))
        queues = parse_queues(queue_options)

        sleep_delay = options["sleep_delay"]
        if sleep_delay is not None and not (0 < sleep_delay < MAX_SLEEP_DELAY):
            raise CommandError(
                f"--sleep-delay {sleep_delay} is invalid: pass a number of seconds greater than 0 "
                f"and less than {MAX_SLEEP_DELAY}."
            )

        if options["read_ahead"] is not None and options["read_ahead"] < 1:
            raise CommandError(f"--read-ahead {options['read_ahead']} is invalid: pass 1 or more.")

        low, high = options["min_priority"], options["max_priority"]
        if low is not None and high is not None and low > high:
            raise CommandError(
                f"--min-priority {low} is greater than --max-priority {high}: no job could match."
            )

        database = options["database"] or conf.get("DATABASE")
        self.check_database(database)

        identifier = self.identifier(options)

        return WorkerOptions(
            queues=queues,
            identifier=identifier or default_identifier(),
            min_priority=low,
            max_priority=high,
            sleep_delay=options["sleep_delay"],
            read_ahead=options["read_ahead"],
            exit_on_complete=options["exit_on_complete"],
            database=database,
        )

    def configure_logging(self, verbosity: int, stream: Any = None) -> None:
        """Print the worker's log lines, unless LOGGING already handles them."""
        logger = logging.getLogger("django_activejob")
        if logger.hasHandlers():
            return
        handler = logging.StreamHandler(stream or self.stdout._out)
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of one worker: its jobs, its polling and its database."""
    parser.add_argument(
        "--queue", action="append", dest="queue", metavar="NAME",
        help="Take jobs from this queue only; repeat it, or separate names with commas. "
             "Names match exactly. Default: all queues.",
    )
    parser.add_argument(
        "--queues", dest="queues", metavar="A,B",
        help="Comma-separated queue names, the same as repeating --queue.",
    )
    parser.add_argument(
        "--identifier", default=None,
        help="Name stored in locked_by, and in the pid file name. Default: 'host:<hostname> pid:<pid>'. "
             "Workers forked by a supervisor get '<identifier>.1', '<identifier>.2', ...",
    )
    parser.add_argument("--min-priority", type=int, default=None, metavar="N",
                        help="Take only jobs with priority >= N.")
    parser.add_argument("--max-priority", type=int, default=None, metavar="N",
                        help="Take only jobs with priority <= N.")
    parser.add_argument(
        "--sleep-delay", type=float, default=None, metavar="SECONDS",
        help="Seconds to wait between polls when no job is ready. "
             "Default: ACTIVEJOB['SLEEP_DELAY'] (5).",
    )
    parser.add_argument(
        "--read-ahead", type=int, default=None, metavar="N",
        help="Jobs to reserve in one query. Default: ACTIVEJOB['READ_AHEAD']; when that is None, "
             "about 0.1 s of work, 1 to 100 jobs, from the time recent jobs took.",
    )
    parser.add_argument(
        "--database", default=None,
        help="Database alias of the DelayedJob table. Default: ACTIVEJOB['DATABASE'].",
    )


def parse_queues(values: list[tuple[str, str]]) -> list[str] | None:
    """Split ``(option, value)`` pairs into exact queue names, or return None for all queues."""
    names: list[str] = []
    for option, value in values:
        try:
            parsed = split_queue_names(value)
        except (TypeError, ValueError) as exc:
            raise CommandError(f"{option} {value!r}: {exc}") from None
        names += [name for name in parsed if name not in names]
    return names or None
