"""In-process tests of heartbeats, lost-job recovery, timeouts, pools and their checks."""

from __future__ import annotations

import datetime
import os
import socket

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_activejob.checks import check_settings, check_sqlite_settings
from django_activejob.models import DelayedJob, WorkerProcess
from django_activejob.worker import Worker, WorkerOptions
from django_activejob.worker.heartbeat import Registration, WorkerConflictError
from django_activejob.worker.pools import PoolError, load_config, parse_pool
from django_activejob.worker.recovery import recover_lost_jobs
from tests.testapp.jobs import RecordJob
from tests.testapp.models import Performance
from tests.testapp.worker_jobs import ShortLimitJob

pytestmark = pytest.mark.django_db

HEARTBEAT_TIMEOUT = datetime.timedelta(seconds=60)


def lock(job, by: str, at: datetime.datetime) -> None:
    DelayedJob.objects.filter(pk=job.provider_job_id).update(
        locked_by=by, locked_at=at, lock_expires_at=at + datetime.timedelta(hours=4)
    )


def worker_row(identifier: str, heartbeat_at: datetime.datetime, **fields) -> WorkerProcess:
    defaults = {"hostname": "elsewhere", "pid": 1, "queues": "*", "started_at": heartbeat_at}
    return WorkerProcess.objects.create(identifier=identifier, heartbeat_at=heartbeat_at, **{**defaults, **fields})


def recover(now: datetime.datetime, **options) -> int:
    options = {"max_attempts": 25, "destroy_failed_jobs": False, **options}
    return recover_lost_jobs(using="default", now=now, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                             recovered_by="tester", **options)


# Recovery of jobs locked by dead workers.


def test_stale_heartbeat_job_is_ready_again():
    now = timezone.now()
    job = RecordJob.perform_later("lost")
    lock(job, "dead-worker", now - datetime.timedelta(minutes=5))
    worker_row("dead-worker", now - datetime.timedelta(minutes=2))

    assert recover(now) == 1

    row = DelayedJob.objects.get()
    assert (row.locked_by, row.locked_at, row.lock_expires_at, row.failed_at) == (None, None, None, None)
    assert row.attempts == 1
    assert row.last_error.startswith(
        "django_activejob.worker.recovery.WorkerLostError: worker 'dead-worker' locked the job at "
    )
    assert "its heartbeat stopped for more than 60 s" in row.last_error


def test_live_worker_job_is_kept():
    now = timezone.now()
    job = RecordJob.perform_later("long")
    lock(job, "busy-worker", now - datetime.timedelta(hours=3))
    worker_row("busy-worker", now - datetime.timedelta(seconds=5))

    assert recover(now) == 0
    assert DelayedJob.objects.get().locked_by == "busy-worker"


def test_rowless_worker_job_recovered_after_timeout():
    now = timezone.now()
    fresh, old = RecordJob.perform_later("fresh"), RecordJob.perform_later("old")
    # A worker that registered a moment ago may not have its lock and row in the same snapshot.
    lock(fresh, "pruned", now - datetime.timedelta(seconds=10))
    lock(old, "pruned", now - datetime.timedelta(seconds=61))

    assert recover(now) == 1

    assert DelayedJob.objects.get(pk=fresh.provider_job_id).locked_by == "pruned"
    assert DelayedJob.objects.get(pk=old.provider_job_id).locked_by is None


def test_last_lost_attempt_fails_job():
    now = timezone.now()
    job = RecordJob.perform_later("keeps killing")
    DelayedJob.objects.filter(pk=job.provider_job_id).update(attempts=2, max_attempts=3)
    lock(job, "dead", now - datetime.timedelta(minutes=5))

    assert recover(now) == 1
    row = DelayedJob.objects.get()
    assert row.attempts == 3
    assert row.failed_at == now

    other = RecordJob.perform_later("destroyed")
    DelayedJob.objects.filter(pk=other.provider_job_id).update(attempts=24)
    lock(other, "dead", now - datetime.timedelta(minutes=5))
    assert recover(now, destroy_failed_jobs=True) == 1
    assert not DelayedJob.objects.filter(pk=other.provider_job_id).exists()


def test_recovery_skips_changed_lock():
    from django_activejob.worker.recovery import release_lost

    now = timezone.now()
    job = RecordJob.perform_later("raced")
    lock(job, "dead", now - datetime.timedelta(minutes=5))
    stale_copy = DelayedJob.objects.get()
    # Another worker recovered and re-locked it in between.
    lock(job, "new-owner", now)

    assert not release_lost(stale_copy, using="default", now=now, max_attempts=25, destroy_failed_jobs=False,
                            reason="test", recovered_by="tester")
    row = DelayedJob.objects.get()
    assert (row.locked_by, row.attempts) == ("new-owner", 0)


def test_failed_rows_are_never_recovered():
    now = timezone.now()
    job = RecordJob.perform_later("failed")
    lock(job, "dead", now - datetime.timedelta(minutes=5))
    DelayedJob.objects.update(failed_at=now)

    assert recover(now) == 0


# Registration.


def registration(identifier: str = "reg", **options) -> Registration:
    return Registration(
        identifier=identifier, using="default", queues=["mail", "default"], supervisor="",
        heartbeat_timeout=HEARTBEAT_TIMEOUT, max_attempts=25, destroy_failed_jobs=False,
        now=options.pop("now", timezone.now), **options,
    )


def test_register_beat_and_deregister():
    entry = registration()
    entry.register()
    row = WorkerProcess.objects.get()
    assert (row.identifier, row.pid, row.hostname, row.queues) == ("reg", os.getpid(), socket.gethostname(),
                                                                     "mail,default")
    WorkerProcess.objects.update(heartbeat_at=timezone.now() - datetime.timedelta(minutes=5))

    entry.beat()
    assert WorkerProcess.objects.get().is_alive()

    entry.deregister()
    assert not WorkerProcess.objects.exists()


def test_beat_recreates_a_deleted_row(caplog):
    entry = registration()
    entry.register()
    WorkerProcess.objects.all().delete()

    entry.beat()

    assert WorkerProcess.objects.get().identifier == "reg"
    assert "found its worker process row gone" in caplog.text


def test_register_rejects_live_owner():
    now = timezone.now()
    worker_row("local", now, hostname=socket.gethostname(), pid=os.getppid())
    worker_row("remote", now - datetime.timedelta(seconds=10), hostname="other-host", pid=4242)

    with pytest.raises(WorkerConflictError, match=rf"already running as pid {os.getppid()} on this host"):
        registration("local").register()
    with pytest.raises(WorkerConflictError, match=r"running as pid 4242 on host 'other-host' \(last heartbeat 10 s"):
        registration("remote").register()


def test_register_takes_over_dead_owner():
    now = timezone.now()
    worker_row("gone", now - datetime.timedelta(hours=1), hostname="other-host", pid=4242)
    job = RecordJob.perform_later("left behind")
    lock(job, "gone", now - datetime.timedelta(minutes=70))

    registration("gone").register()

    assert WorkerProcess.objects.get().pid == os.getpid()
    row = DelayedJob.objects.get()
    assert (row.locked_by, row.attempts) == (None, 1)
    assert "a new worker started under the same identifier" in row.last_error


def test_work_off_registers_and_deregisters():
    RecordJob.perform_later("one")
    seen = []
    original = Worker.work

    def work(self, rows):
        seen.append(list(WorkerProcess.objects.values_list("identifier", flat=True)))
        original(self, rows)

    Worker.work = work
    try:
        Worker(WorkerOptions(identifier="offline")).work_off()
    finally:
        Worker.work = original

    assert seen == [["offline"]]
    assert not WorkerProcess.objects.exists()


# max_run_time in the worker's main thread.


def test_timeout_interrupts_in_process():
    job = ShortLimitJob.perform_later(30)

    with override_settings(ACTIVEJOB={"INTERRUPT_GRACE": 30}):
        worker = Worker(WorkerOptions(identifier="timer"))
        worker.work_off()

    row = DelayedJob.objects.get(pk=job.provider_job_id)
    assert row.attempts == 1
    assert row.last_error.startswith("django_activejob.worker.worker.JobTimeoutError: the job ran for longer")
    assert worker.failed == 1


def test_enqueue_copies_the_class_limits():
    job = ShortLimitJob.perform_later()
    plain = RecordJob.perform_later("x")

    assert DelayedJob.objects.filter(pk=job.provider_job_id).values_list("max_run_time", "max_attempts").get() == (
        2.0, None
    )
    assert DelayedJob.objects.filter(pk=plain.provider_job_id).values_list("max_run_time", flat=True).get() is None


@pytest.mark.parametrize("value", [0, -1, "10", True, datetime.timedelta(0), 10**9])
def test_invalid_max_run_time_rejected(value):
    from django_activejob import Job

    with pytest.raises(TypeError, match=r"max_run_time = .* is invalid; set it to a number of seconds"):
        type("BadLimitJob", (Job,), {"max_run_time": value, "perform": lambda self: None,
                                     "__module__": __name__})


def test_timedelta_max_run_time_is_stored_in_seconds():
    from django_activejob.job import max_run_time_seconds

    class MinuteJob(RecordJob):
        max_run_time = datetime.timedelta(minutes=1)

    assert max_run_time_seconds(MinuteJob) == 60.0


# Pools.


def test_parse_pool():
    assert parse_pool("mailers,default:2").queues == ["mailers", "default"]
    assert parse_pool("mailers,default:2").processes == 2
    assert parse_pool("*").queues is None
    assert parse_pool("*:3").processes == 3
    assert parse_pool("reports").processes == 1
    with pytest.raises(PoolError, match=r"0 processes is invalid; use 1 to 256"):
        parse_pool("a:0")


def test_load_config_merges_shared_options(tmp_path):
    path = tmp_path / "jobs.yml"
    path.write_text("read_ahead: 10\npools:\n  - queues: [a]\n    processes: 2\n    read_ahead: 1\n"
                    "  - queues: '*'\n")

    pools, shared = load_config(path)

    assert shared == {"read_ahead": 10}
    assert [(pool.queues, pool.processes, pool.options) for pool in pools] == [
        (["a"], 2, {"read_ahead": 1}), (None, 1, {"read_ahead": 10}),
    ]


# Admin and checks.


def test_worker_admin_lists_states(client, django_assert_max_num_queries):
    user = User.objects.create_superuser("admin", "admin@example.test", "password")
    client.force_login(user)
    now = timezone.now()
    worker_row("alive-1", now)
    worker_row("dead-1", now - datetime.timedelta(minutes=10))
    job = RecordJob.perform_later("running")
    lock(job, "alive-1", now)

    with django_assert_max_num_queries(8):
        response = client.get(reverse("admin:django_activejob_workerprocess_changelist"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "activejob-worker-alive" in content
    assert "activejob-worker-dead" in content
    assert "tests.testapp.jobs.RecordJob" in content
    dead_only = client.get(reverse("admin:django_activejob_workerprocess_changelist") + "?alive=no")
    assert "dead-1" in dead_only.content.decode()
    assert "alive-1" not in dead_only.content.decode()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"HEARTBEAT_INTERVAL": 10, "HEARTBEAT_TIMEOUT": 15}, "is less than twice"),
        ({"SHUTDOWN_TIMEOUT": -1}, "ACTIVEJOB['SHUTDOWN_TIMEOUT'] = -1 is invalid."),
        ({"INTERRUPT_GRACE": 0}, "ACTIVEJOB['INTERRUPT_GRACE'] = 0 is invalid."),
        ({"LISTEN_NOTIFY": "yes"}, "ACTIVEJOB['LISTEN_NOTIFY'] = 'yes' is invalid."),
    ],
)
def test_worker_settings_are_checked(settings, message):
    with override_settings(ACTIVEJOB=settings):
        errors = check_settings()
    assert [error.msg for error in errors if message in error.msg], errors


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite settings")
def test_sqlite_check_warnings():
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)
    try:
        options.pop("transaction_mode", None)
        options["timeout"] = 1
        ids = {warning.id for warning in check_sqlite_settings(databases=["default"])}
    finally:
        options.clear()
        options.update(saved)
    assert {"activejob.W002", "activejob.W003"} <= ids
    assert check_sqlite_settings(databases=None) == []


# Defects found in review, each with its regression test.


def test_recovery_waits_two_intervals():
    import time

    from django_activejob.worker.heartbeat import HeartbeatThread

    now = timezone.now()
    job = RecordJob.perform_later("lost")
    lock(job, "dead-worker", now - datetime.timedelta(minutes=5))
    thread = HeartbeatThread(registration("sweeper"), interval=0.2)
    registration("sweeper").register()

    thread.beat_once()
    assert DelayedJob.objects.get().locked_by == "dead-worker"
    time.sleep(0.45)
    thread.beat_once()

    assert DelayedJob.objects.get().locked_by is None


def test_presumed_death_interrupts_only_the_running_job():
    worker = Worker(WorkerOptions(identifier="survivor"))
    # No job runs when the heartbeat is presumed lost: nothing to interrupt, and nothing left behind.
    worker._on_presumed_dead(55.0)
    RecordJob.perform_later("after the outage")

    worker.work_off()

    assert Performance.objects.filter(label="after the outage").exists()
    assert not DelayedJob.objects.exists()


def test_forced_stop_ends_stuck_worker(monkeypatch):
    import threading

    from django_activejob.worker import worker as worker_module

    monkeypatch.setattr(worker_module, "FORCED_EXIT_MARGIN", 0.05)
    exited = threading.Event()
    statuses = []

    def exit_process(status):
        statuses.append(status)
        exited.set()

    with override_settings(ACTIVEJOB={"INTERRUPT_GRACE": 0.05}):
        worker = Worker(WorkerOptions(identifier="stuck"), exit_process=exit_process)
    worker.force_stop()

    assert exited.wait(5)
    assert statuses == [1]


def test_forced_stop_leaves_a_finished_worker_alone(monkeypatch):
    import time

    from django_activejob.worker import worker as worker_module

    monkeypatch.setattr(worker_module, "FORCED_EXIT_MARGIN", 0.05)
    statuses = []
    with override_settings(ACTIVEJOB={"INTERRUPT_GRACE": 0.05}):
        worker = Worker(WorkerOptions(identifier="done"), exit_process=statuses.append)
    worker._finished = True
    worker.force_stop()
    time.sleep(0.3)

    assert statuses == []


def test_waker_ignores_wake_after_close():
    from django_activejob.worker.wakeup import Waker

    waker = Waker(using="default", queues=None, listen=False, identifier="w")
    write_fd = waker._write_fd
    waker.close()
    # The descriptor number may already belong to another file.
    replacement = os.open(os.devnull, os.O_WRONLY)
    try:
        waker.wake()
    finally:
        os.close(replacement)
    assert write_fd >= 0


@pytest.mark.parametrize(
    ("payload", "wakes"),
    [("default", True), ("mailers", False), ("default 1.0", True), ("default 99999999999", False),
     ("default nonsense", True)],
)
def test_notification_payloads(payload, wakes):
    from django_activejob.worker.wakeup import Waker

    waker = Waker(using="default", queues=["default"], listen=False, identifier="w")
    try:
        assert waker._handle(payload) is wakes
    finally:
        waker.close()


def test_worker_admin_has_no_delete(client):
    user = User.objects.create_superuser("admin", "admin@example.test", "password")
    client.force_login(user)
    worker_row("alive-1", timezone.now())

    response = client.get(reverse("admin:django_activejob_workerprocess_changelist"))

    assert response.status_code == 200
    assert "delete_selected" not in response.content.decode()
    delete_url = reverse("admin:django_activejob_workerprocess_delete", args=[WorkerProcess.objects.get().pk])
    assert client.get(delete_url).status_code == 403
