"""Production worker behaviour with real processes: crashes, timeouts, supervisors, wake-ups.

Workers are ``manage.py jobs_worker`` subprocesses on the test database (see
the ``start_worker`` fixture). Short heartbeats and timeouts come in through
ACTIVEJOB_TEST_SETTINGS. Timeouts in this module only bound waiting; no
test checks how fast anything runs.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_activejob.models import DelayedJob, WorkerProcess
from tests.conftest import ROOT, worker_environment
from tests.test_worker_processes import WAIT_TIMEOUT, wait_for
from tests.testapp.jobs import RecordJob, SleepJob
from tests.testapp.models import AuditLog, Performance
from tests.testapp.worker_jobs import (
    BatchedSlowJob,
    CatchOnceJob,
    FirstRunHangsJob,
    GilHogJob,
    IntervalJob,
    KillWorkerJob,
    ShortLimitJob,
    SlowCleanupJob,
    SwallowingJob,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Heartbeats fast enough that a dead worker is noticed within seconds.
FAST_HEARTBEATS = {"HEARTBEAT_INTERVAL": 0.5, "HEARTBEAT_TIMEOUT": 4}


def settings_env(**settings) -> dict[str, str]:
    return {"ACTIVEJOB_TEST_SETTINGS": json.dumps(settings)}


def row_of(job) -> DelayedJob:
    return DelayedJob.objects.get(pk=job.provider_job_id)


def children_of(pid: int) -> list[int]:
    """Return the pids of ``pid``'s child processes, from /proc."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        return []
    return [int(value) for value in path.read_text().split()]


def is_running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return status != "Z"


# Crashes: SIGKILL, and a job that kills its worker every time (cases C01 and C20).


def test_killed_worker_job_runs_again(start_worker):
    job = FirstRunHangsJob.perform_later("hangs first")
    first = start_worker("--identifier", "w1", "--sleep-delay", "0.1", **settings_env(**FAST_HEARTBEATS))
    wait_for(lambda: Performance.objects.filter(label="hangs first").exists(), "w1 to start the job")
    assert row_of(job).locked_by == "w1"

    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=WAIT_TIMEOUT)
    # The lock stays until another worker finds w1's heartbeat stale.
    assert row_of(job).locked_by == "w1"
    assert row_of(job).attempts == 0

    second = start_worker("--identifier", "w2", "--sleep-delay", "0.1", **settings_env(**FAST_HEARTBEATS))
    wait_for(lambda: not DelayedJob.objects.filter(pk=job.provider_job_id).exists(), "w2 to perform the job")

    runs = list(Performance.objects.filter(label="hangs first").order_by("id").values_list("pid", "value"))
    # The second execution saw the lost attempt: executions counts it.
    assert runs == [(first.pid, "1"), (second.pid, "2")]
    assert "was locked by lost worker w1; attempt 1 of 25 counted, ready again" in second.output()


def test_job_that_kills_every_worker_ends_failed(start_worker):
    job = KillWorkerJob.perform_later("killer")
    supervisor = start_worker(
        "--processes", "1", "--identifier", "sup", "--sleep-delay", "0.1",
        **settings_env(MAX_ATTEMPTS=3, **FAST_HEARTBEATS),
    )

    wait_for(lambda: row_of(job).failed_at is not None, "the job to be marked failed", timeout=90)
    row = row_of(job)
    assert row.attempts == 3
    assert row.locked_by is None
    assert "WorkerLostError: worker 'sup.1'" in row.last_error
    # Three executions, each one killing its worker; then no more.
    time.sleep(1)
    assert Performance.objects.filter(label="killer").count() == 3
    output = supervisor.output()
    assert output.count("Worker sup.1 pid=") >= 3
    assert "died (killed by SIGKILL); restarting it in" in output


def test_pruned_worker_row_does_not_hide_its_jobs(start_worker):
    job = FirstRunHangsJob.perform_later("pruned")
    first = start_worker("--identifier", "w-pruned", **settings_env(**FAST_HEARTBEATS))
    wait_for(lambda: Performance.objects.filter(label="pruned").exists(), "the job to start")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=WAIT_TIMEOUT)
    WorkerProcess.objects.filter(identifier="w-pruned").delete()

    start_worker("--identifier", "w-other", "--sleep-delay", "0.1", **settings_env(**FAST_HEARTBEATS))

    wait_for(lambda: not DelayedJob.objects.filter(pk=job.provider_job_id).exists(), "the job to run again")
    assert Performance.objects.filter(label="pruned").count() == 2


def test_same_identifier_restart_releases_locks(start_worker):
    job = FirstRunHangsJob.perform_later("same name")
    # Slow heartbeats: only the restart can release the job quickly.
    slow = settings_env(HEARTBEAT_INTERVAL=30, HEARTBEAT_TIMEOUT=600)
    first = start_worker("--identifier", "w-same", **slow)
    wait_for(lambda: Performance.objects.filter(label="same name").exists(), "the job to start")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=WAIT_TIMEOUT)

    second = start_worker("--identifier", "w-same", "--sleep-delay", "0.1", **slow)

    wait_for(lambda: not DelayedJob.objects.filter(pk=job.provider_job_id).exists(), "the job to run again")
    assert "released 1 job(s) that an earlier process with the same identifier had locked" in second.output()


def test_second_worker_with_a_live_identifier_is_refused(start_worker):
    first = start_worker("--identifier", "w-dup")
    first.wait_for_output("Starting worker")
    wait_for(lambda: WorkerProcess.objects.filter(identifier="w-dup").exists(), "w-dup to register")

    second = start_worker("--identifier", "w-dup")

    assert second.wait(timeout=WAIT_TIMEOUT) != 0
    assert (f"A worker with the identifier 'w-dup' is already running as pid {first.pid} on this host"
            in second.output())
    assert is_running(first.pid)


# Timeouts (case C03).


def test_timeout_interrupts_and_retries(start_worker):
    job = ShortLimitJob.perform_later(30)
    worker = start_worker("--identifier", "w-limit", "--sleep-delay", "0.1")

    wait_for(lambda: row_of(job).attempts == 1, "the timeout to be recorded")
    row = row_of(job)
    assert row.locked_by is None
    assert row.run_at > timezone.now()
    assert row.last_error.startswith(
        "django_activejob.worker.worker.JobTimeoutError: the job ran for longer than its max_run_time of 2 s"
    )
    assert is_running(worker.pid)


def test_timeout_repeats_after_caught_interrupt(start_worker):
    job = CatchOnceJob.perform_later("catch once", 30)
    worker = start_worker("--identifier", "w-catch", "--sleep-delay", "0.1")

    wait_for(lambda: row_of(job).attempts == 1, "the timeout to be recorded")
    assert Performance.objects.filter(label="catch once:caught").exists()
    assert "JobTimeoutError" in row_of(job).last_error
    assert is_running(worker.pid)


def test_job_that_swallows_every_interrupt_ends_its_process(start_worker):
    job = SwallowingJob.perform_later("swallow", 60)
    RecordJob.set(priority=10).perform_later("queued behind")
    worker = start_worker("--identifier", "w-swallow", "--read-ahead", "5",
                          **settings_env(INTERRUPT_GRACE=1))

    status = worker.wait(timeout=WAIT_TIMEOUT)

    assert status == 3, worker.output()
    row = row_of(job)
    assert row.attempts == 1
    assert row.locked_by is None
    assert "max_run_time of 1 s" in row.last_error
    assert "was still running 1 s later; recording the attempt and ending the worker process" in worker.output()
    # The job reserved behind it was released for another worker.
    assert DelayedJob.objects.get(job_class__endswith="RecordJob").locked_by is None


def test_timeout_cleanup_never_overlaps(start_worker):
    """Case C03: the cleanup after a timeout takes 3 s, and another worker polls all the while."""
    job = SlowCleanupJob.perform_later("slow cleanup", 5)
    workers = [
        start_worker("--identifier", name, "--sleep-delay", "0.2", **settings_env(**FAST_HEARTBEATS))
        for name in ("A", "B")
    ]

    wait_for(lambda: row_of(job).attempts == 1, "the timeout to be recorded")
    row = row_of(job)
    assert row.locked_at is None
    assert row.locked_by is None
    assert row.run_at > timezone.now()
    assert "max_run_time of 2 s" in row.last_error
    runs = list(Performance.objects.filter(label="slow cleanup"))
    assert len(runs) == 1
    # Cleanup finished before the outcome was written, and no other worker started it meanwhile.
    assert runs[0].finished_at is not None
    for worker in workers:
        assert is_running(worker.pid)


def test_batched_rows_keep_their_locks(start_worker):
    """Six 1.9 s jobs reserved at once: each lock covers the limits of the rows before it."""
    jobs = [BatchedSlowJob.perform_later(f"batched {number}", 1.9) for number in range(6)]
    fast = settings_env(INTERRUPT_GRACE=0.5, **FAST_HEARTBEATS)
    first = start_worker("--identifier", "A", "--read-ahead", "6", "--sleep-delay", "0.1", **fast)
    wait_for(lambda: Performance.objects.filter(label="batched 0").exists(), "A to start the batch")
    second = start_worker("--identifier", "B", "--sleep-delay", "0.1", **fast)

    wait_for(lambda: not DelayedJob.objects.filter(pk__in=[job.provider_job_id for job in jobs]).exists(),
             "the batch to finish", timeout=90)

    runs = list(Performance.objects.filter(label__startswith="batched ").order_by("started_at"))
    assert Counter(run.label for run in runs) == {f"batched {number}": 1 for number in range(6)}
    assert {run.pid for run in runs} == {first.pid}
    assert "no longer owns the lock" not in first.output()
    assert "lost worker" not in second.output()


# Graceful shutdown (case C20).


def test_shutdown_timeout_releases_job(start_worker):
    job = SleepJob.perform_later("too slow to wait for", 30)
    worker = start_worker("--identifier", "w-shutdown", **settings_env(SHUTDOWN_TIMEOUT=1))
    wait_for(lambda: Performance.objects.filter(label="too slow to wait for").exists(), "the job to start")

    worker.signal(signal.SIGTERM)

    assert worker.wait(timeout=WAIT_TIMEOUT) == 1
    row = row_of(job)
    assert row.attempts == 1
    assert row.locked_by is None
    assert "the shutdown timeout of 1 s passed" in row.last_error
    assert row.run_at <= timezone.now()


# The supervisor.


def test_four_processes_perform_each_of_2000_jobs_once(start_worker):
    supervisor = start_worker("--processes", "4", "--identifier", "pool", "--read-ahead", "10",
                              "--sleep-delay", "0.05")
    supervisor.wait_for_output("Starting worker identifier=pool.4")
    with transaction.atomic():
        jobs = [IntervalJob(f"job {number}") for number in range(2000)]
        from django_activejob import perform_all_later

        perform_all_later(jobs)

    wait_for(lambda: not DelayedJob.objects.exists(), "the workers to empty the queue", timeout=180)
    supervisor.signal(signal.SIGTERM)
    assert supervisor.wait(timeout=WAIT_TIMEOUT) == 0, supervisor.output()

    labels = Counter(Performance.objects.values_list("label", flat=True))
    assert len(labels) == 2000
    assert set(labels.values()) == {1}
    pids = Counter(Performance.objects.values_list("pid", flat=True))
    assert len(pids) == 4, pids
    assert supervisor.pid not in pids
    for marker in ("Traceback", "no longer owns the lock", "database is locked"):
        assert marker not in supervisor.output()


def test_supervisor_restarts_and_orphans_stop(start_worker):
    supervisor = start_worker("--pool", "mailers:1", "--pool", "*:1", "--identifier", "sup")
    supervisor.wait_for_output("Starting worker identifier=sup.2")
    wait_for(lambda: WorkerProcess.objects.count() == 2, "both workers to register")
    rows = {row.identifier: row for row in WorkerProcess.objects.all()}
    assert rows["sup.1"].queues == "mailers"
    assert rows["sup.2"].queues == "*"
    victim = rows["sup.1"].pid

    os.kill(victim, signal.SIGKILL)

    supervisor.wait_for_output(f"Worker sup.1 pid={victim} died (killed by SIGKILL); restarting it in 1 s")
    wait_for(lambda: WorkerProcess.objects.filter(identifier="sup.1").exclude(pid=victim).exists(),
             "the new sup.1 to register")
    children = children_of(supervisor.pid)
    assert len(children) == 2

    # A supervisor killed outright closes its pipes; its workers stop on their own.
    os.kill(supervisor.pid, signal.SIGKILL)
    wait_for(lambda: not any(is_running(pid) for pid in children), "the orphaned workers to exit")
    assert not WorkerProcess.objects.exists()


def test_supervisor_kills_gil_holder(start_worker):
    job = GilHogJob.perform_later("hog", 10**10)
    supervisor = start_worker("--processes", "1", "--identifier", "gil", "--sleep-delay", "0.1",
                              **settings_env(MAX_ATTEMPTS=2, **FAST_HEARTBEATS))

    wait_for(lambda: row_of(job).failed_at is not None, "the job to be marked failed", timeout=90)
    row = row_of(job)
    assert row.attempts == 2
    assert "WorkerLostError: worker 'gil.1'" in row.last_error
    output = supervisor.output()
    assert "sent no liveness ping for" in output
    assert "died (killed by SIGKILL)" in output
    # Each execution started after the previous worker was gone.
    runs = list(Performance.objects.filter(label="hog").order_by("started_at").values_list("pid", flat=True))
    assert len(runs) == 2
    assert runs[0] != runs[1]


def test_pools_from_a_yaml_file(start_worker, tmp_path):
    config = tmp_path / "jobs.yml"
    config.write_text("sleep_delay: 0.1\npools:\n  - queues: [mailers, default]\n    processes: 2\n"
                      "  - queues: '*'\n    min_priority: 5\n")
    supervisor = start_worker("--config", str(config), "--identifier", "yaml")

    supervisor.wait_for_output("Starting worker identifier=yaml.3")
    wait_for(lambda: WorkerProcess.objects.count() == 3, "three workers to register")
    assert dict(WorkerProcess.objects.values_list("identifier", "queues")) == {
        "yaml.1": "mailers,default", "yaml.2": "mailers,default", "yaml.3": "*",
    }
    assert "identifier=yaml.3 queues=* database=default" in supervisor.output()
    assert "min_priority=5" in supervisor.output()


# Daemon control.


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=worker_environment(**environment),
        capture_output=True, text=True, timeout=WAIT_TIMEOUT,
    )


def test_start_status_stop_restart(tmp_path):
    pid_dir, log_file = tmp_path / "pids", tmp_path / "worker.log"
    common = ["--identifier", "w1", "--pid-dir", str(pid_dir)]
    started = manage("jobs_worker", "start", *common, "--log-file", str(log_file), "--sleep-delay", "0.1")
    assert started.returncode == 0, started.stderr
    pid = int((pid_dir / "jobs_worker.w1.pid").read_text())
    try:
        assert f"Started jobs_worker 'w1' as pid {pid}" in started.stdout

        refused = manage("jobs_worker", "start", *common, "--log-file", str(log_file))
        assert refused.returncode != 0
        assert f"jobs_worker is already running as pid {pid}" in refused.stderr

        wait_for(lambda: WorkerProcess.objects.filter(identifier="w1").exists(), "w1 to register")
        status = manage("jobs_worker", "status", *common)
        assert status.returncode == 0
        assert f"jobs_worker is running as pid {pid}" in status.stdout
        assert "w1  pid" in status.stdout
        assert "queues *  alive" in status.stdout

        # Case C20 (c): stop takes the graceful path, so the running job finishes.
        job = SleepJob.perform_later("finishes during stop", 2)
        waiting = SleepJob.set(priority=5).perform_later("stays queued", 0)
        wait_for(lambda: Performance.objects.filter(label="finishes during stop").exists(), "the job to start")
        stopped = manage("jobs_worker", "stop", *common)
        assert stopped.returncode == 0
        assert f"Stopped jobs_worker pid {pid}" in stopped.stdout
        assert Performance.objects.get(label="finishes during stop").finished_at is not None
        assert not DelayedJob.objects.filter(pk=job.provider_job_id).exists()
        assert row_of(waiting).locked_by is None
        assert row_of(waiting).attempts == 0

        status = manage("jobs_worker", "status", *common)
        assert status.returncode == 3
        assert "jobs_worker is not running" in status.stdout

        restarted = manage("jobs_worker", "restart", *common, "--log-file", str(log_file))
        assert restarted.returncode == 0, restarted.stderr
        pid = int((pid_dir / "jobs_worker.w1.pid").read_text())
        assert "jobs_worker is not running" in restarted.stdout
        assert f"as pid {pid}" in restarted.stdout
    finally:
        if is_running(pid):
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not is_running(pid), "the daemon to stop")
    assert "Starting worker identifier=w1" in log_file.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--processes", "0"], "--processes 0 is invalid: use 1 to 256"),
        (["--processes", "2", "--pool", "*"], "--processes and --pool can't be combined"),
        (["--pool", "a,b:x"], "--pool 'a,b:x': 'x' is not a number of processes"),
        (["--pool", " :2"], "--pool ' :2': Queue name '' is invalid"),
        (["--queue", "a", "--pool", "b"], "--queue can't be combined with --pool"),
        (["--config", "/nonexistent/jobs.yml"], "--config /nonexistent/jobs.yml: the file can't be read"),
        (["--processes", "2", "--exit-on-complete"], "--exit-on-complete can't be used with a supervisor"),
        (["stop", "--timeout", "-1"], "--timeout -1.0 is invalid"),
        (["--pool", "mail:2:3"], "has more than one ':'"),
        (["--config", "x.yml", "--sleep-delay", "1"], "--sleep-delay can't be combined with --config"),
    ],
)
def test_bad_command_lines_are_refused(args, message):
    result = manage("jobs_worker", *args)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pools: []", "'pools' must be a non-empty list"),
        ("- a\n- b", "expected a mapping with a 'pools' list"),
        ("pools:\n  - queues: [a]\n    processes: many", "'processes' must be an int, got 'many'"),
        ("pools:\n  - queue: [a]", "unknown key(s) ['queue']"),
        ("sleep_delay: -1\npools:\n  - queues: '*'", "'sleep_delay' -1 must be greater than 0"),
        ("pools:\n  - queues: '*'\n    min_priority: 5\n    max_priority: 1", "min_priority 5 is greater"),
        ("pools: [", "the file is not valid YAML"),
    ],
)
def test_bad_yaml_files_are_refused(tmp_path, text, message):
    config = tmp_path / "jobs.yml"
    config.write_text(text)
    result = manage("jobs_worker", "--config", str(config))
    assert result.returncode != 0
    assert message in result.stderr


def test_workoff_performs_ready_jobs_and_exits():
    RecordJob.perform_later("ready")
    later = RecordJob.set(wait=datetime.timedelta(hours=1)).perform_later("later")

    result = manage("jobs_workoff")

    assert result.returncode == 0, result.stderr
    assert "Performed 1 job(s); 0 failed." in result.stdout
    assert list(Performance.objects.values_list("label", flat=True)) == ["ready"]
    assert DelayedJob.objects.filter(pk=later.provider_job_id).exists()


# Wake-ups.


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")
def test_notify_wakes_idle_worker(start_worker):
    worker = start_worker("--identifier", "w-listen", "--sleep-delay", "120")
    worker.wait_for_output("listens for NOTIFY on channel django_activejob")
    # Let the first poll pass, so only a notification can wake the worker in time.
    time.sleep(0.5)

    RecordJob.perform_later("notified")
    wait_for(lambda: Performance.objects.filter(label="notified").exists(), "the notified job", timeout=30)

    scheduled = RecordJob.set(wait=datetime.timedelta(seconds=2)).perform_later("scheduled")
    wait_for(lambda: Performance.objects.filter(label="scheduled").exists(), "the scheduled job", timeout=30)
    assert Performance.objects.get(label="scheduled").started_at >= scheduled.scheduled_at


@pytest.mark.skipif(connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's")
def test_notify_other_queue_ignored(start_worker):
    worker = start_worker("--identifier", "w-mail", "--queue", "mailers", "--sleep-delay", "120", "-v", "2")
    worker.wait_for_output("listens for NOTIFY")
    time.sleep(0.5)

    RecordJob.set(queue="other").perform_later("other queue")
    RecordJob.set(queue="mailers").perform_later("mail")

    wait_for(lambda: Performance.objects.filter(label="mail").exists(), "the mailers job", timeout=30)
    assert not Performance.objects.filter(label="other queue").exists()


# SQLite under concurrent writers (case C21).


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's single writer")
def test_sqlite_concurrent_writers(start_worker):
    workers = [start_worker("--identifier", f"s{number}", "--sleep-delay", "0.05") for number in (1, 2)]
    for worker in workers:
        worker.wait_for_output("Starting worker")
    script = (
        "from django.db import transaction\n"
        "from tests.testapp.jobs import RecordJob\n"
        "from tests.testapp.models import AuditLog\n"
        "for number in range(500):\n"
        "    with transaction.atomic():\n"
        "        AuditLog.objects.create(message=f'signup {number}')\n"
        "        RecordJob.perform_later(f'job {number}')\n"
    )
    enqueuer = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", script], cwd=ROOT,
        env=worker_environment(), capture_output=True, text=True, timeout=120,
    )

    assert enqueuer.returncode == 0, enqueuer.stderr
    assert "database is locked" not in enqueuer.stderr
    wait_for(lambda: not DelayedJob.objects.exists(), "the workers to empty the queue", timeout=120)
    assert AuditLog.objects.count() == 500
    labels = Counter(Performance.objects.values_list("label", flat=True))
    assert len(labels) == 500
    assert set(labels.values()) == {1}
    for worker in workers:
        assert is_running(worker.pid)
        assert "database is locked" not in worker.output()


# Daemon control, as a new user tried it.


def test_start_rejects_live_identifier(start_worker, tmp_path):
    supervisor = start_worker("--processes", "1", "--identifier", "jobs")
    wait_for(lambda: WorkerProcess.objects.filter(identifier="jobs.1").exists(), "jobs.1 to register")

    result = manage("jobs_worker", "start", "--identifier", "jobs.1", "--pid-dir", str(tmp_path))
    assert result.returncode != 0
    assert "A worker with the identifier 'jobs.1' is already running as pid" in result.stderr
    supervised = manage("jobs_worker", "start", "-n", "2", "--identifier", "jobs", "--pid-dir", str(tmp_path))
    assert supervised.returncode != 0
    assert "'jobs.1' is already running" in supervised.stderr
    assert not list(tmp_path.glob("*.pid"))
    assert is_running(supervisor.pid)


def test_start_refuses_a_missing_config_before_forking(tmp_path):
    pid_dir, log_file = tmp_path / "pids", tmp_path / "worker.log"
    result = manage("jobs_worker", "start", "--identifier", "broken", "--pid-dir", str(pid_dir),
                    "--log-file", str(log_file), "--config", str(tmp_path / "missing.yml"))
    assert result.returncode != 0
    assert "the file can't be read" in result.stderr
    assert not (pid_dir / "jobs_worker.broken.pid").exists()


def test_start_reports_exited_daemon(tmp_path):
    from django.core.management.base import CommandError

    from django_activejob.management.commands.jobs_worker import Command

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    log_file = tmp_path / "worker.log"
    log_file.write_text("line 1\nOperationalError: something went wrong\n")

    with pytest.raises(CommandError, match=rf"jobs_worker pid {dead.pid} exited right after it started"):
        Command().check_still_running(dead.pid, log_file)
    try:
        Command().check_still_running(dead.pid, log_file)
    except CommandError as exc:
        assert "OperationalError: something went wrong" in str(exc)


def test_status_and_stop_without_identifier_find_named_daemons(tmp_path):
    pid_dir = tmp_path / "pids"
    started = manage("jobs_worker", "start", "--identifier", "d2", "--pid-dir", str(pid_dir),
                     "--log-file", str(tmp_path / "w.log"))
    assert started.returncode == 0, started.stderr
    pid = int((pid_dir / "jobs_worker.d2.pid").read_text())
    try:
        status = manage("jobs_worker", "status", "--pid-dir", str(pid_dir))
        assert status.returncode == 0
        assert f"jobs_worker is running as pid {pid}" in status.stdout

        stop = manage("jobs_worker", "stop", "--pid-dir", str(pid_dir))
        assert stop.returncode != 0
        assert "Pass the --identifier that the worker was started with" in stop.stderr
        assert is_running(pid)
    finally:
        manage("jobs_worker", "stop", "--identifier", "d2", "--pid-dir", str(pid_dir))
    assert not is_running(pid)


def test_workoff_help_lists_only_its_own_options():
    result = manage("jobs_workoff", "--help")
    assert result.returncode == 0
    for option in ("--pool", "--processes", "--pid-dir", "--exit-on-complete", "{run,start"):
        assert option not in result.stdout
    assert "--queue" in result.stdout


def test_unmigrated_database_is_reported_before_the_worker_starts(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "jobs_worker", "--exit-on-complete"], cwd=ROOT,
        env={**worker_environment(), "ACTIVEJOB_TEST_WORKER": "", "DATABASE_URL": f"sqlite:///{empty}"},
        capture_output=True, text=True, timeout=WAIT_TIMEOUT,
    )
    assert result.returncode != 0
    assert "are missing in database 'default': run 'python manage.py migrate' first" in result.stderr
