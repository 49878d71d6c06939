"""The async adapter: a thread pool and an in-memory scheduler inside the test process.

Jobs report to ``tests.testapp.async_jobs.events``; tests wait on that queue
with generous timeouts and never assert how fast anything ran.
"""

import contextlib
import datetime
import decimal
import itertools
import logging
import queue
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from django_activejob import EnqueueError, SerializationError, perform_all_later
from django_activejob.adapters import resolve_adapter, use_adapter
from django_activejob.adapters.asynchronous import THREAD_NAME_PREFIX, AsyncAdapter
from django_activejob.checks import check_async_settings
from tests.conftest import worker_environment
from tests.testapp.async_jobs import (
    BlockingJob,
    ConcurrentJob,
    FlakyJob,
    RecordReportJob,
    ReportJob,
    barriers,
    events,
    gates,
)
from tests.testapp.jobs import FailJob
from tests.testapp.models import AuditLog, Performance

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent

#: Seconds a test waits for a job before it fails; far above any expected run time.
TIMEOUT = 20


@pytest.fixture(autouse=True)
def empty_fixture_state():
    _empty(events)
    gates.clear()
    barriers.clear()
    yield
    _empty(events)


def _empty(reports: queue.Queue) -> None:
    while True:
        try:
            reports.get_nowait()
        except queue.Empty:
            return


@pytest.fixture
def start_adapter(empty_fixture_state):
    """Return a function that creates an AsyncAdapter and sends every job to it until teardown."""
    stack = contextlib.ExitStack()
    adapters = []

    def start(**options):
        adapter = AsyncAdapter(**options)
        adapters.append(adapter)
        stack.enter_context(use_adapter(adapter))
        return adapter

    yield start
    for gate in gates.values():
        gate.set()
    # Shut down while use_adapter is still active, so a retry enqueued by a running
    # job can't fall through to the database adapter of the test settings.
    for adapter in adapters:
        adapter.shutdown(wait=True, timeout=TIMEOUT)
    stack.close()


@pytest.fixture
def activejob_log(caplog):
    """caplog, capturing the django_activejob logger from INFO up."""
    caplog.set_level(logging.INFO, logger="django_activejob")
    return caplog


def next_event(timeout: float = TIMEOUT) -> dict:
    try:
        return events.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no job reported within {timeout} s")


def messages(log, level=logging.INFO) -> list[str]:
    return [record.getMessage() for record in log.records if record.levelno >= level]


def wait_for(condition, timeout: float = TIMEOUT) -> None:
    """Wait until ``condition()`` is true, for a state that no job reports on ``events``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition still false after {timeout} s")
        time.sleep(0.02)


def new_pool_threads(before: set[threading.Thread]) -> list[str]:
    return sorted(
        thread.name for thread in set(threading.enumerate()) - before
        if thread.name.startswith(THREAD_NAME_PREFIX)
    )


# Running jobs


def test_adapter_interface():
    adapter = AsyncAdapter()

    assert adapter.name == "async"
    assert adapter.supports_scheduling is True
    assert adapter.transaction_alias() is None


def test_arguments_round_trip_on_pool_thread(start_adapter):
    start_adapter(max_threads=2)
    when = datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")

    job = ReportJob.perform_later(
        "CEO 👨‍💼", 3, (1, 2), {"nested": [when]}, decimal.Decimal("1.10"), key=key, delay=datetime.timedelta(seconds=5)
    )

    event = next_event()
    assert event["job_id"] == job.job_id
    assert event["thread"].startswith(f"{THREAD_NAME_PREFIX}_")
    assert event["args"] == ("CEO 👨‍💼", 3, (1, 2), {"nested": [when]}, decimal.Decimal("1.10"))
    assert event["kwargs"] == {"key": key, "delay": datetime.timedelta(seconds=5)}
    assert event["executions"] == 1
    assert job.successfully_enqueued is True
    assert job.provider_job_id is None


def test_model_argument_loaded_on_pool_thread(start_adapter):
    start_adapter(max_threads=2)
    entry = AuditLog.objects.create(message="signed up")

    ReportJob.perform_later(entry)

    [loaded] = next_event()["args"]
    assert isinstance(loaded, AuditLog)
    assert loaded.pk == entry.pk
    assert loaded.message == "signed up"
    assert loaded is not entry


def test_unserializable_argument_fails_at_perform_later(start_adapter):
    before = set(threading.enumerate())
    start_adapter(max_threads=2)

    with pytest.raises(SerializationError) as raised:
        ReportJob.perform_later(object())

    assert "positional argument 0" in str(raised.value)
    assert new_pool_threads(before) == []


def test_unserializable_argument_fails_at_perform_later_in_transaction(start_adapter):
    start_adapter(max_threads=1)

    with transaction.atomic():
        with pytest.raises(SerializationError):
            ReportJob.perform_later(object())


def test_arguments_captured_at_perform_later_in_transaction(start_adapter):
    start_adapter(max_threads=1)
    items = ["at perform_later"]

    with transaction.atomic():
        ReportJob.perform_later(items)
        items.append("after perform_later")

    assert next_event()["args"] == (["at perform_later"],)


def test_pool_starts_on_first_enqueue_and_stops(start_adapter, activejob_log):
    before = set(threading.enumerate())
    adapter = start_adapter(max_threads=2)
    assert new_pool_threads(before) == []

    ReportJob.perform_later("first")
    next_event()
    assert new_pool_threads(before) == [f"{THREAD_NAME_PREFIX}_0"]
    assert "Started the async adapter with up to 2 thread(s)" in messages(activejob_log)

    adapter.shutdown()
    assert new_pool_threads(before) == []
    assert "Stopped the async adapter" in messages(activejob_log)


def test_adapter_usable_after_shutdown(start_adapter):
    adapter = start_adapter(max_threads=1)
    ReportJob.perform_later("before")
    assert next_event()["args"] == ("before",)

    adapter.shutdown()
    ReportJob.perform_later("after")

    assert next_event()["args"] == ("after",)


def test_many_jobs_run_exactly_once(start_adapter):
    adapter = start_adapter(max_threads=4)

    enqueued = {RecordReportJob.perform_later(f"job {number}").job_id for number in range(200)}

    reports = [next_event() for _ in range(200)]
    adapter.shutdown()
    assert events.empty()
    assert {report["job_id"] for report in reports} == enqueued
    assert len({report["thread"] for report in reports}) <= 4
    assert Performance.objects.count() == 200
    assert set(Performance.objects.values_list("job_id", flat=True)) == enqueued


def test_jobs_run_concurrently_up_to_max_threads(start_adapter):
    start_adapter(max_threads=3)

    for _ in range(3):
        ConcurrentJob.perform_later("three", 3, TIMEOUT)

    assert [next_event()["met"] for _ in range(3)] == [True, True, True]


def test_no_more_than_max_threads_run_at_once(start_adapter):
    start_adapter(max_threads=2)

    for _ in range(3):
        ConcurrentJob.perform_later("three", 3, 0.5)

    # Two threads can't bring three jobs to the barrier, so it breaks after 0.5 s.
    assert [next_event()["met"] for _ in range(3)] == [False, False, False]


def test_perform_all_later_runs_each_job(start_adapter):
    start_adapter(max_threads=2)

    count = perform_all_later([ReportJob("now"), ReportJob("soon").set(wait=0.2)])

    assert count == 2
    assert sorted(next_event()["args"] for _ in range(2)) == [("now",), ("soon",)]


@override_settings(ACTIVEJOB={"QUEUE_ADAPTER": "async", "ASYNC_MAX_THREADS": 3})
def test_selected_by_queue_adapter_setting(activejob_log):
    adapter = resolve_adapter("async")
    assert isinstance(adapter, AsyncAdapter)
    try:
        job = ReportJob.perform_later("configured")

        event = next_event()
        assert event["job_id"] == job.job_id
        assert "Started the async adapter with up to 3 thread(s)" in messages(activejob_log)
        assert f"Enqueued ReportJob (Job ID: {job.job_id}) to async(default) with arguments: 'configured'" in (
            messages(activejob_log)
        )
    finally:
        adapter.shutdown()


def test_invalid_max_threads_setting_raises_at_enqueue():
    from django.core.exceptions import ImproperlyConfigured

    adapter = AsyncAdapter()
    with override_settings(ACTIVEJOB={"ASYNC_MAX_THREADS": "4"}), use_adapter(adapter):
        with pytest.raises(ImproperlyConfigured) as raised:
            ReportJob.perform_later()

    assert "ACTIVEJOB['ASYNC_MAX_THREADS'] = '4' is invalid" in str(raised.value)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"max_threads": 0}, "max_threads=0 is invalid"),
        ({"max_threads": True}, "max_threads=True is invalid"),
        ({"shutdown_timeout": -1}, "shutdown_timeout=-1 is invalid"),
        ({"shutdown_timeout": float("inf")}, "shutdown_timeout=inf is invalid"),
    ],
)
def test_invalid_constructor_options_raise(options, problem):
    with pytest.raises(ValueError) as raised:
        AsyncAdapter(**options)

    assert problem in str(raised.value)


# Scheduling


def test_scheduled_job_runs_at_its_time(start_adapter):
    start_adapter(max_threads=2)

    job = ReportJob.set(wait=0.3).perform_later("later")

    assert events.empty()
    event = next_event()
    assert event["job_id"] == job.job_id
    assert event["at"] >= job.scheduled_at


def test_scheduled_jobs_run_in_time_order(start_adapter):
    start_adapter(max_threads=1)
    soon = timezone.now() + datetime.timedelta(seconds=0.35)

    last = ReportJob.set(wait=0.5).perform_later("last")
    first = ReportJob.set(wait=0.2).perform_later("first")
    middle = ReportJob.set(wait_until=soon).perform_later("middle")

    reports = [next_event() for _ in range(3)]
    assert [report["args"] for report in reports] == [("first",), ("middle",), ("last",)]
    for report, job in zip(reports, [first, middle, last], strict=True):
        assert report["at"] >= job.scheduled_at


def test_past_run_time_runs_at_once(start_adapter):
    start_adapter(max_threads=1)
    earlier = timezone.now() - datetime.timedelta(hours=1)

    ReportJob.set(wait_until=earlier).perform_later("overdue")

    assert next_event()["args"] == ("overdue",)


def test_retry_on_retries_through_scheduler(start_adapter):
    start_adapter(max_threads=2)

    job = FlakyJob.perform_later(succeed_on=3)

    reports = [next_event() for _ in range(3)]
    assert [report["job_id"] for report in reports] == [job.job_id] * 3
    assert [report["executions"] for report in reports] == [1, 2, 3]
    assert reports[0]["scheduled_at"] is None
    for previous, retry in itertools.pairwise(reports):
        # retry_on(wait=0.2, jitter=0) schedules each retry 0.2 s after the failure.
        assert retry["scheduled_at"] >= previous["at"] + datetime.timedelta(seconds=0.2)
        assert retry["at"] >= retry["scheduled_at"]


def test_retry_on_exhausted_is_logged(start_adapter, activejob_log):
    start_adapter(max_threads=1)

    job = FlakyJob.perform_later(succeed_on=10)
    assert [next_event()["executions"] for _ in range(3)] == [1, 2, 3]
    ReportJob.perform_later("barrier")
    next_event()

    errors = [record for record in activejob_log.records if record.levelno == logging.ERROR]
    [error] = [record for record in errors if record.getMessage().startswith("Gave up")]
    assert error.getMessage() == (
        f"Gave up on FlakyJob (Job ID: {job.job_id}) on the async adapter, which does not retry "
        f"unhandled exceptions: FlakyAsyncError: execution 3 failed"
    )
    assert events.empty()


# Errors


def test_unhandled_exception_logged_and_pool_survives(start_adapter, activejob_log):
    start_adapter(max_threads=1)

    failed = FailJob.perform_later("bad value")
    after = ReportJob.perform_later("after the failure")

    event = next_event()
    assert event["job_id"] == after.job_id
    assert event["thread"] == f"{THREAD_NAME_PREFIX}_0"
    [error] = [record for record in activejob_log.records if record.levelno == logging.ERROR]
    assert error.getMessage() == (
        f"Gave up on FailJob (Job ID: {failed.job_id}) on the async adapter, which does not retry "
        f"unhandled exceptions: RuntimeError: bad value"
    )
    assert error.exc_info[0] is RuntimeError
    assert error.threadName == f"{THREAD_NAME_PREFIX}_0"


def test_deleted_model_argument_logged(start_adapter, activejob_log):
    start_adapter(max_threads=1)
    entry = AuditLog.objects.create(message="deleted soon")

    entry_pk = entry.pk
    job = ReportJob.set(wait=0.3).perform_later(entry)
    entry.delete()
    ReportJob.set(wait=0.6).perform_later("barrier")

    assert next_event()["args"] == ("barrier",)
    [error] = [record for record in activejob_log.records if record.levelno == logging.ERROR]
    assert error.getMessage().startswith(
        f"Gave up on ReportJob (Job ID: {job.job_id}) on the async adapter, which does not retry "
        f"unhandled exceptions: RecordNotFoundDeserializationError: AuditLog with pk={entry_pk} was not found"
    )


# Transactions


def test_rollback_runs_nothing(start_adapter):
    start_adapter(max_threads=1)

    with pytest.raises(IntegrityError):
        with transaction.atomic():
            AuditLog.objects.create(message="signed up")
            rolled_back = ReportJob.perform_later("rolled back")
            raise IntegrityError("simulated constraint failure")
    ReportJob.perform_later("after the rollback")

    assert next_event()["args"] == ("after the rollback",)
    assert rolled_back.successfully_enqueued is False
    assert events.empty()


def test_job_runs_after_commit(start_adapter):
    start_adapter(max_threads=1)

    with transaction.atomic():
        entry = AuditLog.objects.create(message="committed")
        job = ReportJob.perform_later(entry)
        assert job.successfully_enqueued is False
        with pytest.raises(queue.Empty):
            events.get(timeout=0.3)

    assert job.successfully_enqueued is True
    [loaded] = next_event()["args"]
    assert loaded.message == "committed"


# Shutdown


def test_shutdown_drops_scheduled_jobs(start_adapter, activejob_log):
    adapter = start_adapter(max_threads=1)
    first = ReportJob.set(wait=60).perform_later("dropped")
    second = ReportJob.set(wait=120).perform_later("dropped too")

    adapter.shutdown()

    assert (
        f"Stopping the async adapter: dropped 0 queued and 2 scheduled job(s), which will not run: "
        f"ReportJob (Job ID: {first.job_id}), ReportJob (Job ID: {second.job_id}); 0 job(s) running"
    ) in messages(activejob_log, logging.WARNING)
    assert "Stopped the async adapter" in messages(activejob_log)


def test_shutdown_drops_queued_jobs(start_adapter, activejob_log):
    adapter = start_adapter(max_threads=1)
    gates["busy"] = threading.Event()
    running = BlockingJob.perform_later("busy")
    assert next_event()["job_id"] == running.job_id
    queued = [ReportJob.perform_later(f"queued {number}") for number in range(2)]

    adapter.shutdown(wait=False)
    gates["busy"].set()
    ReportJob.perform_later("after the shutdown")

    assert next_event()["args"] == ("after the shutdown",)
    assert events.empty()
    warnings = messages(activejob_log, logging.WARNING)
    assert (
        f"Stopping the async adapter: dropped 2 queued and 0 scheduled job(s), which will not run: "
        f"ReportJob (Job ID: {queued[0].job_id}), ReportJob (Job ID: {queued[1].job_id}); 1 job(s) running"
    ) in warnings
    assert any(
        message.startswith(f"Stopped the async adapter with 1 job(s) still running: BlockingJob (Job ID: {running.job_id}).")
        for message in warnings
    )


def test_shutdown_waits_for_running_job(start_adapter, activejob_log):
    adapter = start_adapter(max_threads=1)
    gates["slow"] = threading.Event()
    BlockingJob.perform_later("slow")
    next_event()
    threading.Timer(0.3, gates["slow"].set).start()

    adapter.shutdown(wait=True, timeout=TIMEOUT)

    assert gates["slow"].is_set()
    assert "Stopping the async adapter: no queued or scheduled jobs; 1 job(s) running" in messages(activejob_log)
    assert "Stopped the async adapter" in messages(activejob_log)


def test_shutdown_timeout_leaves_job_running(start_adapter, activejob_log):
    adapter = start_adapter(max_threads=1)
    gates["stuck"] = threading.Event()
    running = BlockingJob.perform_later("stuck")
    next_event()

    adapter.shutdown(wait=True, timeout=0.2)

    assert not gates["stuck"].is_set()
    assert (
        f"Stopped the async adapter with 1 job(s) still running: BlockingJob (Job ID: {running.job_id}). "
        f"Python can't stop a thread, so the process waits for them to return before it exits; "
        f"interrupt it (Ctrl+C) to exit at once."
    ) in messages(activejob_log, logging.WARNING)


def test_enqueue_during_shutdown_raises(start_adapter, activejob_log):
    adapter = start_adapter(max_threads=1)
    gates["busy"] = threading.Event()
    BlockingJob.perform_later("busy")
    next_event()
    stopping = threading.Thread(target=adapter.shutdown, kwargs={"timeout": TIMEOUT})
    stopping.start()
    wait_for(lambda: any(message.startswith("Stopping the async adapter") for message in messages(activejob_log)))

    with pytest.raises(EnqueueError) as raised:
        ReportJob.perform_later("too late")

    gates["busy"].set()
    stopping.join(TIMEOUT)
    assert "was not enqueued: the async adapter is shutting down and accepts no new jobs." in str(raised.value)
    ReportJob.perform_later("after the shutdown")
    assert next_event()["args"] == ("after the shutdown",)


# Interpreter exit, in a subprocess

EXIT_SCRIPT = """
import django

django.setup()

from django_activejob.adapters import use_adapter
from django_activejob.adapters.asynchronous import AsyncAdapter
from tests.testapp.async_jobs import PrintSleepJob, ReportJob, events

with use_adapter(AsyncAdapter(max_threads=1, shutdown_timeout={timeout})):
    running = PrintSleepJob.perform_later("running", {seconds})
    queued = ReportJob.perform_later("queued")
    scheduled = ReportJob.set(wait=60).perform_later("scheduled")
events.get(timeout=20)
print("ids", running.job_id, queued.job_id, scheduled.job_id, flush=True)
"""


def run_exit_script(timeout: float, seconds: float) -> tuple[str, list[str]]:
    # The test database, because perform_later outside a transaction still connects
    # to the default database to read its autocommit mode.
    finished = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT.format(timeout=timeout, seconds=seconds)],
        cwd=ROOT, env=worker_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
    )
    assert finished.returncode == 0, finished.stdout
    [ids] = [line for line in finished.stdout.splitlines() if line.startswith("ids ")]
    return finished.stdout, ids.split()[1:]


def test_interpreter_exit_drops_waiting_jobs():
    output, (running, queued, scheduled) = run_exit_script(timeout=20, seconds=2)

    dropped = (
        f"Stopping the async adapter: dropped 1 queued and 1 scheduled job(s), which will not run: "
        f"ReportJob (Job ID: {queued}), ReportJob (Job ID: {scheduled}); 1 job(s) running"
    )
    assert dropped in output
    assert output.index(dropped) < output.index("finished running") < output.index(
        "INFO django_activejob: Stopped the async adapter\n"
    )
    assert f"Performed PrintSleepJob (Job ID: {running})" in output
    assert f"ReportJob (Job ID: {queued}) from" not in output


def test_interpreter_exit_waits_for_job_past_timeout():
    output, (running, _, _) = run_exit_script(timeout=0.2, seconds=3)

    still_running = f"Stopped the async adapter with 1 job(s) still running: PrintSleepJob (Job ID: {running})."
    assert still_running in output
    assert output.index(still_running) < output.index("finished running")


# Settings checks


def check_messages(**activejob):
    with override_settings(ACTIVEJOB=activejob):
        return [(error.id, error.msg, error.hint) for error in check_async_settings()]


@pytest.mark.parametrize(
    "activejob",
    [{}, {"ASYNC_MAX_THREADS": None}, {"ASYNC_MAX_THREADS": 1}, {"ASYNC_SHUTDOWN_TIMEOUT": 0},
     {"ASYNC_SHUTDOWN_TIMEOUT": 2.5}],
)
def test_valid_async_settings_pass(activejob):
    assert check_messages(**activejob) == []


@pytest.mark.parametrize("value", [0, -2, "4", 1.5, True])
def test_invalid_max_threads_reported(value):
    assert check_messages(ASYNC_MAX_THREADS=value) == [(
        "activejob.E020",
        f"ACTIVEJOB['ASYNC_MAX_THREADS'] = {value!r} is invalid.",
        "Set it to an int of 1 or more, or None for the number of CPUs.",
    )]


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "10", None, False])
def test_invalid_shutdown_timeout_reported(value):
    assert check_messages(ASYNC_SHUTDOWN_TIMEOUT=value) == [(
        "activejob.E021",
        f"ACTIVEJOB['ASYNC_SHUTDOWN_TIMEOUT'] = {value!r} is invalid.",
        "Set it to a finite number of seconds, 0 or more.",
    )]
