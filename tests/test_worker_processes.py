"""Tests of jobs_worker running as real processes: concurrency, signals, bad rows and filters.

Each test starts ``manage.py jobs_worker`` subprocesses through the
``start_worker`` fixture, so rows must be committed where those processes
can see them (``transaction=True``). Timeouts only bound waiting; no test
checks how fast anything runs.
"""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_activejob.models import DelayedJob
from tests.conftest import ROOT, WorkerProcess, worker_environment
from tests.testapp.jobs import RecordJob, SleepJob
from tests.testapp.models import Performance
from tests.testapp.worker_jobs import IntervalJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Seconds to wait for a worker to start, finish its work or exit.
WAIT_TIMEOUT = 60.0

#: Worker log text that means a failed reserve, a lost lock or a failed write.
#: The level names match the format of LOGGING in tests/settings.py.
ERROR_MARKERS = ("database is locked", " WARNING ", " ERROR ", "Traceback")


def wait_for(condition: Callable[[], bool], description: str, timeout: float = WAIT_TIMEOUT) -> None:
    """Poll ``condition`` until it is true, and fail naming ``description`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout} s waiting for {description}.")


def run_until_complete(start_worker: Callable[..., WorkerProcess], *args: str) -> str:
    """Run one ``jobs_worker --exit-on-complete`` process and return its output once it exits 0."""
    worker = start_worker("--exit-on-complete", "--sleep-delay", "0.05", *args)
    status = worker.wait(timeout=WAIT_TIMEOUT)
    output = worker.output()
    assert status == 0, f"jobs_worker {' '.join(args)} exited with {status}:\n{output}"
    return output


def performed_labels() -> set[str]:
    return set(Performance.objects.values_list("label", flat=True))


def record_payload(label: str) -> dict:
    """Enqueue a RecordJob, delete its row and return the payload, as a template for hand-made rows."""
    job = RecordJob.perform_later(label)
    row = DelayedJob.objects.get(pk=job.provider_job_id)
    row.delete()
    return json.loads(row.handler)


def insert_row(handler: str, job_class: str, *, queue: str = "default",
               run_at: datetime.datetime | None = None) -> DelayedJob:
    """Insert a DelayedJob row directly, as older tools or a manual SQL fix would."""
    now = timezone.now()
    return DelayedJob.objects.create(
        handler=handler, job_class=job_class, job_id=uuid.uuid4(), queue=queue,
        run_at=run_at or now, created_at=now, updated_at=now,
    )


def set_run_at(job, run_at: datetime.datetime) -> None:
    DelayedJob.objects.filter(pk=job.provider_job_id).update(run_at=run_at)


# Concurrency


def test_two_workers_perform_each_job_once(start_worker):
    workers = [
        start_worker("--identifier", f"w{number}", "--read-ahead", "5", "--sleep-delay", "0.05")
        for number in (1, 2)
    ]
    # Both workers poll an empty table before the jobs appear in one commit,
    # so neither gets a head start from a faster process startup.
    for worker in workers:
        worker.wait_for_output("Starting worker", timeout=WAIT_TIMEOUT)
    # Each job sleeps 2 ms outside any transaction. Without that pause one
    # SQLite worker can hold the write lock from batch to batch, and the
    # other never gets a turn to show that the two don't overlap.
    with transaction.atomic():
        job_ids = {IntervalJob.perform_later(f"job {number}", 0.002).job_id for number in range(500)}

    wait_for(lambda: not DelayedJob.objects.exists(), "the workers to empty the queue")
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=WAIT_TIMEOUT) == 0, worker.output()

    assert Performance.objects.count() == 500
    assert set(Performance.objects.values_list("job_id", flat=True)) == job_ids
    assert DelayedJob.objects.count() == 0
    jobs_per_pid = Counter(Performance.objects.values_list("pid", flat=True))
    assert set(jobs_per_pid) == {worker.pid for worker in workers}, jobs_per_pid
    for worker in workers:
        output = worker.output()
        for marker in ERROR_MARKERS:
            assert marker not in output, f"{marker!r} in the output of worker {worker.pid}:\n{output}"


# Signals


@pytest.mark.parametrize(
    ("read_ahead", "signum"),
    [("1", signal.SIGTERM), ("5", signal.SIGTERM), ("5", signal.SIGINT)],
    ids=["read-ahead-1-SIGTERM", "read-ahead-5-SIGTERM", "read-ahead-5-SIGINT"],
)
def test_graceful_stop_finishes_running_job(start_worker, read_ahead, signum):
    running = SleepJob.set(priority=-1).perform_later("running", 3)
    waiting = RecordJob.perform_later("waiting")
    worker = start_worker("--identifier", "w-stop", "--read-ahead", read_ahead, "--sleep-delay", "0.05")

    wait_for(lambda: Performance.objects.filter(label="running").exists(), "the sleep job to start")
    # With read-ahead 1 only the running job is reserved. With read-ahead 5
    # the waiting job is reserved too, so the worker must release it on exit.
    expected_lock = None if read_ahead == "1" else "w-stop"
    assert DelayedJob.objects.get(pk=waiting.provider_job_id).locked_by == expected_lock
    worker.signal(signum)

    assert worker.wait(timeout=15) == 0, worker.output()
    output = worker.output()
    assert f"received {signal.Signals(signum).name}" in output
    assert Performance.objects.get(label="running").finished_at is not None
    assert not DelayedJob.objects.filter(pk=running.provider_job_id).exists()
    waiting_row = DelayedJob.objects.get(pk=waiting.provider_job_id)
    assert waiting_row.locked_by is None
    assert waiting_row.locked_at is None
    assert waiting_row.attempts == 0
    assert waiting_row.failed_at is None
    assert not Performance.objects.filter(label="waiting").exists()
    if read_ahead == "5":
        assert "released 1 reserved job(s)" in output


def test_second_signal_interrupts_job(start_worker):
    job = SleepJob.perform_later("hanging", 30)
    worker = start_worker("--identifier", "w-forced", "--sleep-delay", "0.05")
    wait_for(lambda: Performance.objects.filter(label="hanging").exists(), "the sleep job to start")

    worker.signal(signal.SIGTERM)
    worker.wait_for_output("received SIGTERM;", timeout=WAIT_TIMEOUT)
    worker.signal(signal.SIGTERM)

    # Well before the job's 30 s sleep ends.
    status = worker.wait(timeout=10)
    assert status != 0, worker.output()
    assert "received SIGTERM again" in worker.output()
    assert Performance.objects.get(label="hanging").finished_at is None
    row = DelayedJob.objects.get(pk=job.provider_job_id)
    assert row.locked_by is None
    assert row.locked_at is None
    assert row.failed_at is None
    assert row.attempts == 1
    assert "second stop signal" in row.last_error
    assert row.last_error.startswith("django_activejob.worker.worker.ForcedStopError: Worker ")
    assert row.run_at <= timezone.now()

    # Another worker takes the job at once. Interrupting it again counts a second attempt.
    retry_worker = start_worker("--identifier", "w-retry", "--sleep-delay", "0.05")
    wait_for(
        lambda: Performance.objects.filter(label="hanging", pid=retry_worker.pid).exists(),
        "the second worker to start the job",
    )
    assert DelayedJob.objects.get(pk=job.provider_job_id).locked_by == "w-retry"
    retry_worker.signal(signal.SIGTERM)
    retry_worker.wait_for_output("received SIGTERM;", timeout=WAIT_TIMEOUT)
    retry_worker.signal(signal.SIGTERM)
    assert retry_worker.wait(timeout=10) != 0, retry_worker.output()
    assert DelayedJob.objects.get(pk=job.provider_job_id).attempts == 2


# Rows that can't be loaded


def test_worker_skips_unloadable_rows(start_worker):
    payload = record_payload("template")
    # The bad rows are due a second earlier, so the worker tries them before the valid job.
    earlier = timezone.now() - datetime.timedelta(seconds=1)
    removed_class = "tests.testapp.jobs.RemovedJob"
    removed_rows = [
        insert_row(json.dumps({**payload, "job_class": removed_class}), removed_class, run_at=earlier)
        for _ in range(2)
    ]
    truncated_row = insert_row(json.dumps(payload)[:100], payload["job_class"], run_at=earlier)
    valid = RecordJob.perform_later("valid")

    run_until_complete(start_worker, "--identifier", "w-bad-rows")

    for row in [*removed_rows, truncated_row]:
        row.refresh_from_db()
        assert row.failed_at is not None, row.pk
        assert row.attempts == 1, row.pk
        assert row.locked_by is None, row.pk
    for row in removed_rows:
        assert removed_class in row.last_error
        assert "could not be found" in row.last_error
    assert "not valid JSON" in truncated_row.last_error
    assert performed_labels() == {"valid"}
    assert not DelayedJob.objects.filter(pk=valid.provider_job_id).exists()


def test_class_path_outside_apps_not_imported(start_worker, tmp_path):
    payload = record_payload("template")
    marker = tmp_path / "called"
    # Each row would create the marker file if the worker called its "class".
    # Importing the stdlib module "this" prints the Zen of Python, so an
    # import shows up in the worker's output.
    rows = {
        "os.system": insert_row(
            json.dumps({**payload, "job_class": "os.system",
                        "arguments": {"args": [f"touch {marker}"], "kwargs": {}}}),
            "os.system",
        ),
        "builtins.eval": insert_row(
            json.dumps({**payload, "job_class": "builtins.eval",
                        "arguments": {"args": [f"open({str(marker)!r}, 'w')"], "kwargs": {}}}),
            "builtins.eval",
        ),
        "this.s": insert_row(json.dumps({**payload, "job_class": "this.s"}), "this.s"),
        # In an installed app, so its module is imported, but not a Job subclass.
        "tests.testapp.models.Performance": insert_row(
            json.dumps({**payload, "job_class": "tests.testapp.models.Performance"}),
            "tests.testapp.models.Performance",
        ),
    }

    output = run_until_complete(start_worker, "--identifier", "w-outside")

    assert not marker.exists()
    assert "Beautiful is better than ugly" not in output
    assert not Performance.objects.exists()
    for class_path, row in rows.items():
        row.refresh_from_db()
        assert row.failed_at is not None, class_path
        assert row.attempts == 1, class_path
        assert class_path in row.last_error
        assert "could not be found" in row.last_error


# Startup and the command line


def test_exit_on_complete_with_empty_queue(start_worker):
    output = run_until_complete(start_worker, "--identifier", "w-empty", "--queue", "mail,default")

    assert (
        f"Starting worker identifier=w-empty queues=mail,default database=default({connection.vendor})"
        in output
    )
    assert "found no ready jobs" in output
    assert "Stopped worker identifier=w-empty performed=0 failed=0" in output


LONG_IDENTIFIER = "x" * 300

INVALID_COMMAND_LINES = [
    pytest.param(["--sleep-delay", "0"], ["--sleep-delay 0"], id="sleep-delay-0"),
    pytest.param(["--sleep-delay", "-1"], ["--sleep-delay -1"], id="sleep-delay-negative"),
    pytest.param(["--read-ahead", "0"], ["--read-ahead 0"], id="read-ahead-0"),
    pytest.param(
        ["--min-priority", "5", "--max-priority", "1"],
        ["--min-priority 5", "--max-priority 1"],
        id="priority-range-empty",
    ),
    pytest.param(["--min-priority", "low"], ["'low'"], id="priority-not-int"),
    pytest.param(["--queue", ""], ["--queue ''"], id="queue-empty"),
    pytest.param(["--queue", "a, "], ["--queue 'a, '"], id="queue-empty-name-in-list"),
    pytest.param(["--queues", "mail,"], ["'mail,'"], id="queues-trailing-comma"),
    pytest.param(["--queues", ""], ["''"], id="queues-empty"),
    pytest.param(["--database", "nope"], ["--database 'nope'"], id="database-unknown"),
    pytest.param(["--identifier", " "], ["--identifier"], id="identifier-blank"),
    pytest.param(["--sleep-delay", "nan"], ["--sleep-delay nan"], id="sleep-delay-nan"),
    pytest.param(["--sleep-delay", "inf"], ["--sleep-delay inf"], id="sleep-delay-inf"),
    pytest.param(["--identifier", LONG_IDENTIFIER], ["--identifier", "255"], id="identifier-too-long"),
]


@pytest.mark.parametrize(("arguments", "expected_texts"), INVALID_COMMAND_LINES)
def test_invalid_command_line_rejected(arguments, expected_texts):
    # --exit-on-complete makes a wrongly accepted command line exit 0 on the
    # empty queue instead of running until the timeout.
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "jobs_worker", "--exit-on-complete", *arguments],
        cwd=ROOT, env=worker_environment(), capture_output=True, text=True, timeout=WAIT_TIMEOUT,
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Starting worker" not in output
    for text in expected_texts:
        assert text in result.stderr, result.stderr


# Queue and priority filters


def test_queue_filters_match_exact_names(start_worker):
    RecordJob.perform_later("default")
    for queue in ("mail", "mailers", "mail-1", "mail-10"):
        RecordJob.set(queue=queue).perform_later(queue)
    payload = record_payload("template")
    # Rows written by hand or by older tools may have an empty queue, which
    # workers treat as "default".
    insert_row(json.dumps({**payload, "queue_name": "", "arguments": {"args": ["legacy"], "kwargs": {}}}),
               payload["job_class"], queue="")

    run_until_complete(start_worker, "--queue", "mail")
    assert performed_labels() == {"mail"}

    run_until_complete(start_worker, "--queue", "mail-1")
    assert performed_labels() == {"mail", "mail-1"}

    run_until_complete(start_worker, "--queue", "mail, default")
    assert performed_labels() == {"mail", "mail-1", "default", "legacy"}

    run_until_complete(start_worker)
    assert performed_labels() == {"mail", "mail-1", "default", "legacy", "mailers", "mail-10"}
    assert not DelayedJob.objects.exists()


def test_queue_names_case_sensitive(start_worker):
    RecordJob.set(queue="mail").perform_later("mail")
    RecordJob.set(queue="Mail").perform_later("Mail")

    run_until_complete(start_worker, "--queue", "MAIL")
    assert performed_labels() == set()
    assert DelayedJob.objects.count() == 2

    run_until_complete(start_worker, "--queue", "Mail")
    assert performed_labels() == {"Mail"}


def test_priority_range_filter(start_worker):
    for priority in (-5, 0, 10):
        RecordJob.set(priority=priority).perform_later(f"priority {priority}")

    run_until_complete(start_worker, "--min-priority", "0", "--max-priority", "5")

    assert performed_labels() == {"priority 0"}
    assert sorted(DelayedJob.objects.values_list("priority", flat=True)) == [-5, 10]


def test_run_order_priority_run_at_id(start_worker):
    now = timezone.now()
    # Enqueued in an order that differs from the run order, with run_at set
    # so that priority beats run_at and run_at beats id.
    jobs = {}
    for label, priority, seconds_ago in [
        ("priority 10, earliest", 10, 60),
        ("priority 3, latest", 3, 10),
        ("priority 3, tie, first id", 3, 15),
        ("priority 3, tie, second id", 3, 15),
        ("priority 3, earliest", 3, 20),
        ("priority -5, latest", -5, 1),
    ]:
        jobs[label] = RecordJob.set(priority=priority).perform_later(label)
        set_run_at(jobs[label], now - datetime.timedelta(seconds=seconds_ago))

    run_until_complete(start_worker, "--read-ahead", "1")

    assert list(Performance.objects.order_by("id").values_list("label", flat=True)) == [
        "priority -5, latest",
        "priority 3, earliest",
        "priority 3, tie, first id",
        "priority 3, tie, second id",
        "priority 3, latest",
        "priority 10, earliest",
    ]
