"""jobs_worker survives database faults: a server outage and a dropped idle connection.

The PostgreSQL tests run real ``manage.py jobs_worker`` processes against a
private cluster (tests/pgcluster.py) that they stop, start and whose backends
they terminate. The MariaDB test kills the worker's connection on the shared
server. Timeouts only bound waiting, and no test checks how fast anything runs.
"""

from __future__ import annotations

import datetime
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from django.db import connection

from django_activejob.models import DelayedJob
from django_activejob.models import WorkerProcess as WorkerProcessRow
from django_activejob.worker.worker import RESERVE_BACKOFF_CAP, RESERVE_BACKOFF_START
from tests import pgcluster
from tests.conftest import ROOT, WorkerProcess
from tests.pgcluster import (
    MAIN_CLUSTER_PORT,
    PgCluster,
    PgClusterError,
    find_bin_dir,
    pg_cluster_fixture,  # noqa: F401 - provides the pg_cluster fixture
    unavailable_reason,
    validate_database_name,
)
from tests.testapp.jobs import RecordJob
from tests.testapp.models import Performance

#: The database the worker uses on the private cluster.
FAULT_DATABASE = "activejob_faults"

#: Seconds to wait for a worker to start, a job to run or a process to exit.
WAIT_TIMEOUT = 90.0

#: Seconds the private cluster stays down: long enough for several backoff steps.
OUTAGE_SECONDS = 9.0

#: Seconds between the worker's polls when it finds no job.
SLEEP_DELAY = "1"

#: After a database outage a worker should run a new job within this many seconds.
MAX_RECOVERY_DELAY = 5.0

#: One "could not reserve jobs" warning in the worker's log. The error text
#: may span lines; the format is that of LOGGING in tests/settings.py.
RESERVE_FAILED = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \d+ WARNING django_activejob\.worker: "
    r"Worker (?P<identifier>\S+) could not reserve jobs: (?P<error>.*?); retrying in (?P<delay>[\d.]+) s$",
    re.MULTILINE | re.DOTALL,
)

#: Any WARNING line in the worker's log.
WARNING_LINE = re.compile(r"^\S+ \S+ \d+ WARNING ", re.MULTILINE)

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the private PostgreSQL cluster runs only when the suite runs on PostgreSQL (DATABASE_URL=postgres://...).",
)


@dataclass
class ReserveFailure:
    """One failed poll as the worker logged it."""

    logged_at: datetime.datetime
    identifier: str
    error: str
    delay: float


def reserve_failures(output: str) -> list[ReserveFailure]:
    return [
        ReserveFailure(
            logged_at=datetime.datetime.strptime(match["time"], "%Y-%m-%d %H:%M:%S,%f"),
            identifier=match["identifier"], error=match["error"], delay=float(match["delay"]),
        )
        for match in RESERVE_FAILED.finditer(output)
    ]


def expected_backoff(count: int) -> list[float]:
    """Return the first ``count`` waits after failed polls: doubling from the start value up to the cap."""
    return [min(RESERVE_BACKOFF_START * 2**step, RESERVE_BACKOFF_CAP) for step in range(count)]


def backoff_steps_within(seconds: float) -> int:
    """Return how many failed polls fit in ``seconds`` when each waits one backoff step after the last."""
    steps, elapsed = 1, 0.0
    while elapsed + expected_backoff(steps)[-1] <= seconds:
        elapsed += expected_backoff(steps)[-1]
        steps += 1
    return steps


def wait_for(condition: Callable[[], bool], description: str, worker: WorkerProcess | None = None,
             timeout: float = WAIT_TIMEOUT) -> None:
    """Poll ``condition`` until it is true, and fail naming ``description`` on timeout or when ``worker`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if worker is not None and worker.process.poll() is not None:
            raise AssertionError(
                f"The worker exited with {worker.process.returncode} while waiting for {description}:\n"
                f"{worker.output()}"
            )
        time.sleep(0.1)
    output = f"\nWorker output:\n{worker.output()}" if worker is not None else ""
    raise AssertionError(f"Timed out after {timeout} s waiting for {description}.{output}")


def sleep_while_running(worker: WorkerProcess, seconds: float) -> None:
    """Sleep ``seconds``, failing at once if the worker exits meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert worker.process.poll() is None, (
            f"The worker exited with {worker.process.returncode}:\n{worker.output()}"
        )
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU time (user + system) that process ``pid`` has used, or None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Split after the command name, because it is in brackets and may contain spaces.
    # utime and stime are fields 14 and 15 in proc(5), in clock ticks.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_query(url: str, **query: str | int) -> str:
    """Return ``url`` with ``query`` added to its query string."""
    parts = urlsplit(url)
    pairs = [*parse_qsl(parts.query), *((name, str(value)) for name, value in query.items())]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


# The private PostgreSQL cluster


def private_environment(cluster: PgCluster, **query: str | int) -> dict[str, str]:
    """Return the environment of a manage.py process on the private cluster's FAULT_DATABASE.

    ACTIVEJOB_TEST_WORKER is left out, so tests/settings.py uses the database
    named in DATABASE_URL instead of the suite's test database.
    """
    environment = {name: value for name, value in os.environ.items() if name != "ACTIVEJOB_TEST_WORKER"}
    environment.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONUNBUFFERED="1",
        DATABASE_URL=cluster.url(FAULT_DATABASE, **query),
    )
    return environment


def manage(cluster: PgCluster, *arguments: str) -> str:
    """Run ``manage.py`` with ``arguments`` on the private cluster and return its output."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *arguments],
        cwd=ROOT, env=private_environment(cluster), capture_output=True, text=True, timeout=WAIT_TIMEOUT,
    )
    assert result.returncode == 0, (
        f"manage.py {' '.join(arguments)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
    )
    return result.stdout + result.stderr


def enqueue_record_job(cluster: PgCluster, label: str) -> None:
    """Enqueue RecordJob(label) on the private cluster from a separate process, as a web process would."""
    manage(cluster, "shell", "-c", f"from tests.testapp.jobs import RecordJob; RecordJob.perform_later({label!r})")


@dataclass
class Run:
    """One Performance row: a perform of RecordJob."""

    label: str
    pid: int
    started_at: datetime.datetime


def performed(cluster: PgCluster, label: str) -> list[Run]:
    with cluster.connect(FAULT_DATABASE) as database:
        rows = database.execute(
            f"SELECT label, pid, started_at FROM {Performance._meta.db_table} WHERE label = %s ORDER BY id",
            [label],
        ).fetchall()
    return [Run(*row) for row in rows]


def wait_for_run(cluster: PgCluster, label: str, worker: WorkerProcess) -> Run:
    wait_for(lambda: performed(cluster, label), f"RecordJob({label!r}) to run", worker=worker)
    return performed(cluster, label)[0]


def count_jobs(cluster: PgCluster) -> int:
    with cluster.connect(FAULT_DATABASE) as database:
        return database.execute(f"SELECT count(*) FROM {DelayedJob._meta.db_table}").fetchone()[0]


def reset_private_database(cluster: PgCluster) -> None:
    """Start the cluster if an earlier test left it stopped and empty the tables the tests read."""
    if not cluster.is_running():
        cluster.start()
    tables = [model._meta.db_table for model in (DelayedJob, WorkerProcessRow, Performance)]
    with cluster.connect(FAULT_DATABASE) as database:
        database.execute(f"TRUNCATE {', '.join(tables)}")


def backend_pids(cluster: PgCluster, application_name: str) -> set[int]:
    """Return the server process ids of the connections that use ``application_name``."""
    with cluster.connect() as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name]
        ).fetchall()
    return {pid for (pid,) in rows}


@pytest.fixture(scope="module")
def fault_database(pg_cluster: PgCluster) -> str:
    """FAULT_DATABASE on the private cluster, migrated."""
    pg_cluster.create_database(FAULT_DATABASE)
    manage(pg_cluster, "migrate", "--no-input")
    return FAULT_DATABASE


@pytest.fixture
def private_workers(pg_cluster: PgCluster, fault_database: str, tmp_path: Path) -> Iterator[
    Callable[..., WorkerProcess]
]:
    """Start jobs_worker processes on the private cluster, and kill leftovers by pid at teardown.

    Keyword arguments go to the query string of the worker's DATABASE_URL.
    """
    reset_private_database(pg_cluster)
    started: list[WorkerProcess] = []

    def start(*arguments: str, **query: str | int) -> WorkerProcess:
        worker = WorkerProcess(
            list(arguments), tmp_path / f"worker-{len(started)}.log", private_environment(pg_cluster, **query)
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


# The private cluster itself


@on_postgresql
def test_unavailable_reason_names_missing_binaries(tmp_path):
    pattern = str(tmp_path / "*" / "bin")

    reason = unavailable_reason(pattern)

    assert find_bin_dir(pattern) is None
    assert pattern in reason
    assert "initdb" in reason


@on_postgresql
def test_unavailable_reason_as_root_without_runuser(monkeypatch):
    monkeypatch.setattr(pgcluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pgcluster.shutil, "which", lambda name: None)

    reason = unavailable_reason()

    assert "runuser is missing" in reason


@on_postgresql
def test_unavailable_reason_as_root_without_postgres_user(monkeypatch):
    def no_such_user(name):
        raise KeyError(name)

    monkeypatch.setattr(pgcluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(pgcluster.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(pgcluster.pwd, "getpwnam", no_such_user)

    reason = unavailable_reason()

    assert "no 'postgres' OS user" in reason


@on_postgresql
@pytest.mark.parametrize(
    ("name", "message"),
    [("", "non-empty"), ("bad\x00name", "NUL"), ("x" * 64, "64 bytes"), ("é" * 32, "64 bytes")],
    ids=["empty", "nul", "64-ascii", "64-bytes-utf8"],
)
def test_database_name_rejects_invalid(name, message):
    with pytest.raises(ValueError, match=message):
        validate_database_name(name)


@on_postgresql
def test_database_name_accepts_63_bytes():
    assert validate_database_name("x" * 63) == "x" * 63


@pytest.mark.slow
@pytest.mark.django_db
def test_private_cluster_is_separate_from_main(pg_cluster, fault_database):
    with pg_cluster.connect(fault_database) as private:
        private_id = private.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0]
        private_port = private.execute("SHOW port").fetchone()[0]
        data_directory = private.execute("SHOW data_directory").fetchone()[0]
        listen_addresses = private.execute("SHOW listen_addresses").fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT system_identifier FROM pg_control_system()")
        main_id = cursor.fetchone()[0]

    assert private_port == str(pg_cluster.port)
    assert pg_cluster.port != MAIN_CLUSTER_PORT
    assert data_directory == str(pg_cluster.data_dir)
    assert listen_addresses == "127.0.0.1"
    assert private_id != main_id
    assert pg_cluster.url("app", conn_max_age=600) == (
        f"postgres://postgres@127.0.0.1:{pg_cluster.port}/app?conn_max_age=600"
    )


@pytest.mark.slow
def test_private_cluster_restart_keeps_data(pg_cluster, fault_database):
    reset_private_database(pg_cluster)
    with pg_cluster.connect(fault_database) as database:
        database.execute(f"INSERT INTO {Performance._meta.db_table} (label, value) VALUES ('kept', '')")

    pg_cluster.restart()

    assert pg_cluster.is_running()
    assert pg_cluster.port != MAIN_CLUSTER_PORT
    assert [run.label for run in performed(pg_cluster, "kept")] == ["kept"]


@pytest.mark.slow
def test_private_cluster_cleanup_removes_everything(pg_cluster):
    cluster = PgCluster(pg_cluster.bin_dir)
    try:
        cluster.start()
        cluster.create_database("cleanup_check")
        port = cluster.port
        assert cluster.is_running()
        with pytest.raises(PgClusterError, match="cleanup_check"):
            cluster.create_database("cleanup_check")
    finally:
        cluster.cleanup()

    assert not cluster.directory.exists()
    assert not cluster.is_running()
    assert port != MAIN_CLUSTER_PORT
    cluster.cleanup()


# Outage: the server stops while the worker polls, then comes back


@dataclass
class OutageRun:
    """What one outage did to a worker, for the tests below to check."""

    output: str
    worker_pid: int
    before: list[Run]
    after: list[Run]
    alive_after_outage: bool
    jobs_left: int
    outage_seconds: float
    #: CPU seconds the worker used while the server was down, or None without /proc.
    outage_cpu_seconds: float | None
    back_at: datetime.datetime
    exit_status: int | None


@pytest.fixture(scope="module", params=[0, 600], ids=["conn-max-age-0", "conn-max-age-600"])
def outage(request, pg_cluster: PgCluster, fault_database: str, tmp_path_factory) -> OutageRun:
    """Stop the private cluster for OUTAGE_SECONDS under a polling worker, start it, and enqueue a job."""
    conn_max_age = request.param
    reset_private_database(pg_cluster)
    log_path = tmp_path_factory.mktemp("outage") / "worker.log"
    worker = WorkerProcess(
        ["--identifier", "outage-worker", "--sleep-delay", SLEEP_DELAY], log_path,
        private_environment(pg_cluster, conn_max_age=conn_max_age),
    )
    try:
        worker.wait_for_output("Starting worker", timeout=WAIT_TIMEOUT)
        enqueue_record_job(pg_cluster, "before outage")
        wait_for_run(pg_cluster, "before outage", worker)

        pg_cluster.stop()
        stopped = time.monotonic()
        cpu_at_stop = cpu_seconds(worker.pid)
        sleep_while_running(worker, OUTAGE_SECONDS)
        cpu_at_start = cpu_seconds(worker.pid)
        pg_cluster.start()
        outage_seconds = time.monotonic() - stopped
        outage_cpu_seconds = None if cpu_at_stop is None else cpu_at_start - cpu_at_stop
        back_at = datetime.datetime.now(datetime.UTC)

        enqueue_record_job(pg_cluster, "after outage")
        wait_for_run(pg_cluster, "after outage", worker)
        alive = worker.process.poll() is None
        before, after = performed(pg_cluster, "before outage"), performed(pg_cluster, "after outage")
        jobs_left = count_jobs(pg_cluster)

        worker.signal(signal.SIGTERM)
        try:
            exit_status = worker.wait(timeout=WAIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            exit_status = None
        return OutageRun(
            output=worker.output(), worker_pid=worker.pid, before=before, after=after,
            alive_after_outage=alive, jobs_left=jobs_left, outage_seconds=outage_seconds,
            outage_cpu_seconds=outage_cpu_seconds,
            back_at=back_at, exit_status=exit_status,
        )
    finally:
        worker.stop()
        if not pg_cluster.is_running():
            pg_cluster.start()


@pytest.mark.slow
def test_outage_worker_keeps_its_process(outage):
    assert outage.alive_after_outage, outage.output
    assert [run.pid for run in outage.before] == [outage.worker_pid]
    assert [run.pid for run in outage.after] == [outage.worker_pid]
    assert "Traceback" not in outage.output
    assert " ERROR " not in outage.output
    assert outage.exit_status == 0, outage.output
    assert "Stopped worker identifier=outage-worker" in outage.output


@pytest.mark.slow
def test_outage_worker_does_not_spin(outage):
    if outage.outage_cpu_seconds is None:
        pytest.skip("reads the worker's CPU time from /proc")

    # A loop that retries without sleeping keeps one core busy for the whole outage.
    assert outage.outage_cpu_seconds < OUTAGE_SECONDS / 2, outage.output


@pytest.mark.slow
def test_outage_jobs_run_once(outage):
    assert len(outage.before) == 1
    assert len(outage.after) == 1
    assert outage.jobs_left == 0


@pytest.mark.slow
def test_outage_failed_polls_back_off(outage):
    failures = reserve_failures(outage.output)
    delays = [failure.delay for failure in failures]

    assert failures, f"no failed poll was logged during the outage:\n{outage.output}"
    assert {failure.identifier for failure in failures} == {"outage-worker"}
    # One warning per failed poll, each waiting one backoff step longer than the last.
    assert delays == expected_backoff(len(failures)), outage.output
    for previous, current in itertools.pairwise(failures):
        waited = (current.logged_at - previous.logged_at).total_seconds()
        # The log's clock has millisecond resolution.
        assert waited >= previous.delay - 0.002, (previous, current)
    # A poll may fail while pg_ctl is still stopping the server, so allow one more second.
    steps = backoff_steps_within(outage.outage_seconds + 1)
    assert len(failures) <= steps, outage.output
    # Besides the failed poll, a step may log a failed heartbeat and a lost LISTEN connection.
    assert len(WARNING_LINE.findall(outage.output)) <= 3 * steps, outage.output


@pytest.mark.slow
def test_outage_next_poll_within_recovery_delay(outage):
    failures = reserve_failures(outage.output)
    first_run = outage.after[0].started_at
    assert failures, outage.output

    # The maximum wait between polls bounds how long a job enqueued after the outage waits.
    assert max(failure.delay for failure in failures) <= MAX_RECOVERY_DELAY, (
        f"RecordJob ran {(first_run - outage.back_at).total_seconds():.1f} s after the database came back.\n"
        f"{outage.output}"
    )


# Idle drop: the server ends the connection of a sleeping worker

#: (CONN_HEALTH_CHECKS, failed polls allowed after the drop). Without health
#: checks Django reuses the dead connection once, so one poll fails. With them
#: Django tests the connection before the first query of a poll and reconnects.
IDLE_DROP_CASES = pytest.mark.parametrize(
    ("health_checks", "max_failed_polls"), [(False, 1), (True, 0)],
    ids=["no-health-checks", "conn-health-checks"],
)


@pytest.mark.slow
@IDLE_DROP_CASES
def test_postgresql_idle_drop_worker_reconnects(pg_cluster, private_workers, health_checks, max_failed_polls):
    application_name = "activejob-idle-worker"
    worker = private_workers(
        "--identifier", "idle-worker", "--sleep-delay", SLEEP_DELAY,
        conn_max_age=600, conn_health_checks=health_checks, application_name=application_name,
    )
    worker.wait_for_output("Starting worker", timeout=WAIT_TIMEOUT)
    enqueue_record_job(pg_cluster, "before drop")
    before = wait_for_run(pg_cluster, "before drop", worker)

    # With CONN_MAX_AGE the worker keeps its connections across polls, which
    # is what makes a dropped one a hazard.
    wait_for(lambda: backend_pids(pg_cluster, application_name), "the worker's backends", worker=worker)
    first_seen = backend_pids(pg_cluster, application_name)
    sleep_while_running(worker, 2.5 * float(SLEEP_DELAY))
    backends = backend_pids(pg_cluster, application_name)
    assert first_seen & backends, "the worker did not keep a connection across polls"
    failures_before_drop = len(reserve_failures(worker.output()))

    with pg_cluster.connect() as admin:
        terminated = admin.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(backends)]
        ).fetchall()
    assert dict(terminated) == dict.fromkeys(backends, True)
    wait_for(lambda: not backends & backend_pids(pg_cluster, application_name), "the backends to end")

    enqueue_record_job(pg_cluster, "after drop")
    after = wait_for_run(pg_cluster, "after drop", worker)

    output = worker.output()
    assert worker.process.poll() is None, output
    assert before.pid == worker.pid
    assert after.pid == worker.pid
    assert len(performed(pg_cluster, "after drop")) == 1
    assert count_jobs(pg_cluster) == 0
    assert len(reserve_failures(output)) - failures_before_drop <= max_failed_polls, output
    assert "Traceback" not in output
    assert " ERROR " not in output
    reconnected = backend_pids(pg_cluster, application_name)
    assert reconnected, "the worker has no connection after the drop"
    assert not reconnected & backends


# Idle drop on MariaDB


def worker_tcp_ports(pid: int, remote_port: int) -> set[int]:
    """Return the local ports of process ``pid``'s established TCP connections to ``remote_port``.

    Reads /proc: the socket inodes among the process's file descriptors,
    matched against the kernel's TCP tables.
    """
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            # State 01 is ESTABLISHED. Addresses are hexadecimal "address:port".
            if inode in inodes and state == "01" and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def mariadb_connection_ids(pid: int) -> set[int]:
    """Return the ids of the connections that process ``pid`` has open to the suite's MariaDB server."""
    server_port = int(connection.settings_dict["PORT"] or 3306)
    ports = worker_tcp_ports(pid, server_port)
    return {
        connection_id for connection_id, host in mariadb_server_connections()
        if host and ":" in host and int(host.rsplit(":", 1)[1]) in ports
    }


def mariadb_server_connections() -> list[tuple[int, str]]:
    """Return (connection id, client "host:port") for every connection the server lists."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT ID, HOST FROM information_schema.PROCESSLIST")
        return list(cursor.fetchall())


def mariadb_server_connection_ids() -> set[int]:
    return {connection_id for connection_id, _ in mariadb_server_connections()}


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "mysql", reason="kills a connection on the MariaDB or MySQL server")
@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="finds the worker's connection through /proc")
@pytest.mark.django_db(transaction=True)
@IDLE_DROP_CASES
def test_mariadb_idle_drop_worker_reconnects(start_worker, health_checks, max_failed_polls):
    worker = start_worker(
        "--identifier", "idle-worker", "--sleep-delay", SLEEP_DELAY,
        DATABASE_URL=with_query(
            os.environ["DATABASE_URL"], conn_max_age=600, conn_health_checks=health_checks
        ),
    )
    worker.wait_for_output("Starting worker", timeout=WAIT_TIMEOUT)
    RecordJob.perform_later("before drop")
    wait_for(lambda: Performance.objects.filter(label="before drop").exists(), "the first job", worker=worker)
    before = Performance.objects.get(label="before drop")

    # With CONN_MAX_AGE the worker keeps its connections across polls, which
    # is what makes a dropped one a hazard.
    wait_for(lambda: mariadb_connection_ids(worker.pid), "the worker's connection", worker=worker)
    first_seen = mariadb_connection_ids(worker.pid)
    sleep_while_running(worker, 2.5 * float(SLEEP_DELAY))
    connection_ids = mariadb_connection_ids(worker.pid)
    assert first_seen & connection_ids, "the worker did not keep a connection across polls"
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        own_id = cursor.fetchone()[0]
    assert own_id not in connection_ids
    failures_before_drop = len(reserve_failures(worker.output()))

    with connection.cursor() as cursor:
        for connection_id in connection_ids:
            cursor.execute(f"KILL CONNECTION {int(connection_id)}")
    wait_for(lambda: not connection_ids & mariadb_server_connection_ids(), "the connections to end")

    RecordJob.perform_later("after drop")
    wait_for(lambda: Performance.objects.filter(label="after drop").exists(), "the second job", worker=worker)

    output = worker.output()
    assert worker.process.poll() is None, output
    assert before.pid == worker.pid
    assert list(Performance.objects.filter(label="after drop").values_list("pid", flat=True)) == [worker.pid]
    assert DelayedJob.objects.count() == 0
    assert len(reserve_failures(output)) - failures_before_drop <= max_failed_polls, output
    assert "Traceback" not in output
    assert " ERROR " not in output
    reconnected = mariadb_connection_ids(worker.pid)
    assert reconnected, "the worker has no connection after the drop"
    assert not reconnected & connection_ids
