"""The test adapter, the activejob fixture, ActiveJobTestMixin and Rails' job assertions."""

import contextlib
import datetime
import decimal
import json
import logging
import unittest
from collections import Counter

import pytest
from django.db import transaction
from django.test import TestCase, TransactionTestCase, override_settings
from django.utils import timezone

from django_activejob import Job, RecordNotFoundDeserializationError, SerializationError, perform_all_later
from django_activejob.adapters import current_adapter, resolve_adapter, use_adapter
from django_activejob.models import DelayedJob
from django_activejob.testing import ActiveJobTestMixin, JobTestHelper, RecordedJob, TestAdapter
from django_activejob.worker import Worker, WorkerOptions
from tests.testapp.jobs import (
    ChainJob,
    ConnectionNoRetryJob,
    ConnectionRetryFinalJob,
    ConnectionRetryJob,
    EchoJob,
    InlineEchoJob,
    InvoiceJob,
    MailQueueJob,
    NoopJob,
    PriorityJob,
    RecordJob,
    chained,
    connection_attempts,
    echoed,
)
from tests.testapp.models import Invoice, Performance

UTC = datetime.UTC
LATER = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clear_fixture_lists():
    echoed.clear()
    connection_attempts.clear()
    chained.clear()


def failure(block) -> str:
    """Run ``block`` and return the message of the AssertionError it must raise."""
    with pytest.raises(AssertionError) as raised:
        block()
    return str(raised.value)


# The adapter


def test_adapter_registered_as_test():
    adapter = resolve_adapter("test")

    assert isinstance(adapter, TestAdapter)
    assert adapter.name == "test"
    assert adapter.supports_scheduling is True
    assert adapter.transaction_alias() == "default"


def test_fixture_switches_every_job(activejob):
    assert current_adapter() is activejob.adapter
    assert InlineEchoJob(1).adapter() is activejob.adapter


def test_records_instead_of_running(activejob):
    job = EchoJob.set(queue="mail", priority=5).perform_later(1, "a", flag=True)

    assert echoed == []
    assert job.successfully_enqueued is True
    [record] = activejob.enqueued_jobs
    assert isinstance(record, RecordedJob)
    assert record.job_class is EchoJob
    assert record.job_id == job.job_id
    assert record.args == [1, "a"]
    assert record.kwargs == {"flag": True}
    assert record.queue == "mail"
    assert record.priority == 5
    assert record.at is None
    assert record.payload["job_class"] == "tests.testapp.jobs.EchoJob"
    assert record.payload == json.loads(json.dumps(job.serialize()))
    assert record.describe() == "EchoJob(1, 'a', flag=True) queue=mail priority=5"
    assert activejob.performed_jobs == []


def test_scheduled_job_records_run_time(activejob):
    EchoJob.set(wait_until=LATER).perform_later()
    PriorityJob.set(wait=60).perform_later()

    first, second = activejob.enqueued_jobs
    assert first.at == LATER
    assert first.describe() == "EchoJob() queue=default priority=0 at=2030-01-02T03:04:05+00:00"
    assert abs(second.at - (timezone.now() + datetime.timedelta(seconds=60))) < datetime.timedelta(seconds=5)
    assert second.priority == 7


def test_serialization_error_at_perform_later(activejob):
    with pytest.raises(SerializationError):
        EchoJob.perform_later(object())

    assert activejob.enqueued_jobs == []


def test_arguments_take_json_round_trip(activejob):
    moment = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    with activejob.perform_enqueued_jobs():
        EchoJob.perform_later((1, 2), decimal.Decimal("1.50"), when=moment)

    assert echoed == [(((1, 2), decimal.Decimal("1.50")), {"when": moment})]
    [record] = activejob.performed_jobs
    assert record.args == [(1, 2), decimal.Decimal("1.50")]
    assert record.payload["arguments"] != record.args


@pytest.mark.django_db
def test_model_argument_loads_when_performed(activejob, django_assert_num_queries):
    invoice = Invoice.objects.create(number="INV-1")

    with django_assert_num_queries(0):
        InvoiceJob.perform_later(invoice)
    activejob.perform_enqueued_jobs()

    assert Performance.objects.get(label="invoice").value == "INV-1"
    assert activejob.performed_jobs[0].args == [invoice]


@pytest.mark.django_db
def test_deleted_model_argument_fails_at_perform(activejob):
    invoice = Invoice.objects.create(number="INV-2")
    InvoiceJob.perform_later(invoice)
    pk = invoice.pk
    invoice.delete()

    with pytest.raises(RecordNotFoundDeserializationError):
        activejob.perform_enqueued_jobs()

    described = activejob.performed_jobs[0].describe()
    assert described.startswith('InvoiceJob(serialized: {"args": [{"_aj": "model"')
    assert f'"pk": {pk}' in described


@pytest.mark.django_db
def test_recorded_inside_atomic_block(activejob):
    with transaction.atomic():
        EchoJob.perform_later("in transaction")
        InlineEchoJob.perform_later("inline class")

        assert len(activejob.enqueued_jobs) == 2
    assert echoed == []


@pytest.mark.django_db
def test_rolled_back_job_still_counts(activejob):
    with contextlib.suppress(RuntimeError), transaction.atomic():
        EchoJob.perform_later("rolled back")
        raise RuntimeError("roll back")

    activejob.assert_enqueued_with(job=EchoJob, args=["rolled back"])


@pytest.mark.django_db
@override_settings(ACTIVEJOB={"ENQUEUE_AFTER_TRANSACTION_COMMIT": True})
def test_enqueue_after_commit_setting_still_waits(activejob, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            EchoJob.perform_later("after commit")
            assert activejob.enqueued_jobs == []

    activejob.assert_enqueued_jobs(1)


def test_perform_all_later_records_each_job(activejob):
    count = perform_all_later([EchoJob(1), EchoJob(2).set(wait_until=LATER)])

    assert count == 2
    assert [record.describe() for record in activejob.enqueued_jobs] == [
        "EchoJob(1) queue=default priority=0",
        "EchoJob(2) queue=default priority=0 at=2030-01-02T03:04:05+00:00",
    ]


def test_perform_all_later_performs_in_block(activejob):
    with activejob.perform_enqueued_jobs():
        perform_all_later([EchoJob(1), EchoJob(2).set(wait_until=LATER)])

    assert echoed == [((1,), {}), ((2,), {})]
    assert activejob.enqueued_jobs == []


def test_perform_all_later_records_all_before_failure(activejob):
    with pytest.raises(ConnectionError):
        with activejob.perform_enqueued_jobs(), activejob.assert_enqueued_jobs(2):
            perform_all_later([ConnectionNoRetryJob("first"), EchoJob("second")])

    assert connection_attempts == [("first", 1)]
    assert [record.describe() for record in activejob.enqueued_jobs] == ["EchoJob('second') queue=default priority=0"]


def test_lists_can_be_cleared(activejob):
    NoopJob.perform_later()
    activejob.perform_enqueued_jobs()
    NoopJob.perform_later()

    activejob.enqueued_jobs.clear()
    activejob.performed_jobs.clear()

    activejob.assert_no_enqueued_jobs()
    activejob.assert_no_performed_jobs()


# perform_enqueued_jobs


def test_perform_call_performs_waiting_jobs(activejob):
    EchoJob.perform_later(1)
    EchoJob.perform_later(2)

    assert activejob.perform_enqueued_jobs() == 2

    assert echoed == [((1,), {}), ((2,), {})]
    assert activejob.enqueued_jobs == []
    assert [record.args for record in activejob.performed_jobs] == [[1], [2]]


def test_perform_call_follows_enqueued_jobs(activejob):
    ChainJob.perform_later("a", "b", "c")

    assert activejob.perform_enqueued_jobs() == 3

    assert chained == ["start a", "end a", "start b", "end b", "start c", "end c"]


def test_perform_block_runs_jobs_at_enqueue(activejob):
    EchoJob.perform_later("before")

    with activejob.perform_enqueued_jobs() as block:
        EchoJob.perform_later("inside")
        assert echoed == [(("inside",), {})]
        EchoJob.set(wait_until=LATER).perform_later("scheduled")

    assert echoed == [(("inside",), {}), (("scheduled",), {})]
    assert [record.args for record in block.jobs] == [["inside"], ["scheduled"]]
    assert [record.args for record in activejob.enqueued_jobs] == [["before"]]
    EchoJob.perform_later("after")
    assert len(activejob.enqueued_jobs) == 2


def test_perform_block_chains_in_order(activejob):
    with activejob.perform_enqueued_jobs():
        ChainJob.perform_later("a", "b")

    assert chained == ["start a", "end a", "start b", "end b"]


@pytest.mark.parametrize(
    ("filters", "performed"),
    [
        ({"only": EchoJob}, ["EchoJob"]),
        ({"only": [EchoJob, PriorityJob]}, ["EchoJob", "PriorityJob"]),
        ({"except_": EchoJob}, ["NoopJob", "PriorityJob"]),
        ({"except_": [EchoJob, NoopJob]}, ["PriorityJob"]),
        ({"queue": "mail"}, ["NoopJob"]),
        ({"only": lambda record: record.priority == 7}, ["PriorityJob"]),
        ({"only": []}, []),
        ({"except_": []}, ["EchoJob", "NoopJob", "PriorityJob"]),
        ({"except_": lambda record: record.priority == 7}, ["EchoJob", "NoopJob"]),
    ],
)
def test_perform_filters(activejob, filters, performed):
    def enqueue_three():
        EchoJob.perform_later()
        NoopJob.set(queue="mail").perform_later()
        PriorityJob.perform_later()

    enqueue_three()
    activejob.perform_enqueued_jobs(**filters)
    assert [record.job_class.__name__ for record in activejob.performed_jobs] == performed

    activejob.performed_jobs.clear()
    activejob.enqueued_jobs.clear()
    with activejob.perform_enqueued_jobs(**filters):
        enqueue_three()
    assert [record.job_class.__name__ for record in activejob.performed_jobs] == performed
    assert len(activejob.enqueued_jobs) == 3 - len(performed)


def test_perform_at_selects_due_jobs(activejob):
    now = timezone.now()
    EchoJob.perform_later("now")
    EchoJob.set(wait=3600).perform_later("in an hour")
    EchoJob.set(wait=7200).perform_later("in two hours")

    assert activejob.perform_enqueued_jobs(at=now + datetime.timedelta(minutes=90)) == 2

    assert echoed == [(("now",), {}), (("in an hour",), {})]
    assert activejob.perform_enqueued_jobs(at=now + datetime.timedelta(hours=3)) == 1


def test_perform_block_at_leaves_later_jobs(activejob):
    with activejob.perform_enqueued_jobs(at=timezone.now() + datetime.timedelta(minutes=1)):
        EchoJob.perform_later("now")
        EchoJob.set(wait=3600).perform_later("in an hour")

    assert echoed == [(("now",), {})]
    assert [record.args for record in activejob.enqueued_jobs] == [["in an hour"]]


@override_settings(TIME_ZONE="Europe/Berlin")
def test_perform_naive_at_local_time(activejob):
    EchoJob.set(wait_until=datetime.datetime(2030, 1, 2, 12, 0, tzinfo=UTC)).perform_later()

    # 12:30 in Berlin is 11:30 UTC, before the job's run time.
    assert activejob.perform_enqueued_jobs(at=datetime.datetime(2030, 1, 2, 12, 30)) == 0
    assert activejob.perform_enqueued_jobs(at=datetime.datetime(2030, 1, 2, 13, 30)) == 1


def test_nested_perform_blocks_restore_filters(activejob):
    with activejob.perform_enqueued_jobs(only=EchoJob):
        with activejob.perform_enqueued_jobs(only=NoopJob):
            EchoJob.perform_later("inner")
            NoopJob.perform_later()
        EchoJob.perform_later("outer")
        NoopJob.perform_later()

    assert [record.describe() for record in activejob.performed_jobs] == [
        "NoopJob() queue=default priority=0",
        "EchoJob('outer') queue=default priority=0",
    ]
    assert activejob.adapter.perform_enqueued_jobs is False
    assert activejob.adapter.only is None


@pytest.mark.parametrize(
    ("filters", "error", "message"),
    [
        ({"only": EchoJob, "except_": NoopJob}, ValueError, "Pass only= or except_=, not both"),
        ({"only": "EchoJob"}, TypeError, "only='EchoJob' is invalid: pass a Job subclass"),
        ({"except_": [EchoJob, "NoopJob"]}, TypeError, "except_=[<class"),
        ({"only": dict}, TypeError, "only=<class 'dict'> is invalid: pass a Job subclass"),
        ({"queue": 5}, TypeError, "queue=5 is invalid: pass a queue name (str)."),
        ({"at": "tomorrow"}, TypeError, "at='tomorrow' is invalid: pass a datetime."),
    ],
)
def test_perform_rejects_bad_filters(activejob, filters, error, message):
    with pytest.raises(error) as raised:
        activejob.perform_enqueued_jobs(**filters)

    assert message in str(raised.value)


def test_perform_call_inside_job_rejected(activejob):
    class PerformingJob(Job):
        def perform(self):
            activejob.perform_enqueued_jobs()

    PerformingJob.perform_later()

    with pytest.raises(RuntimeError) as raised:
        activejob.perform_enqueued_jobs()

    assert str(raised.value) == (
        "perform_enqueued_jobs() was called while a job performs; call it from the test instead."
    )


def test_endless_job_chain_stops(activejob):
    class ForeverJob(Job):
        def perform(self):
            ForeverJob.perform_later()

    activejob.adapter.max_performs = 5
    ForeverJob.perform_later()

    with pytest.raises(RuntimeError) as raised:
        activejob.perform_enqueued_jobs()

    assert str(raised.value).startswith("The test adapter performed 5 jobs in one run and more are still enqueued")
    assert len(activejob.performed_jobs) == 5
    with pytest.raises(RuntimeError):
        with activejob.perform_enqueued_jobs():
            ForeverJob.perform_later()


# Retry counts: retry_on(attempts=n) performs n times, then the exception escapes


def test_retry_on_performs_three_times(activejob):
    ConnectionRetryJob.perform_later("call")

    with pytest.raises(ConnectionError) as raised:
        activejob.perform_enqueued_jobs()

    assert str(raised.value) == "call: execution 3"
    assert connection_attempts == [("call", 1), ("call", 2), ("call", 3)]
    assert activejob.enqueued_jobs == []
    assert len(activejob.performed_jobs) == 3
    assert {record.job_id for record in activejob.performed_jobs} == {activejob.performed_jobs[0].job_id}


def test_retry_on_performs_three_times_in_block(activejob):
    with pytest.raises(ConnectionError) as raised:
        with activejob.perform_enqueued_jobs():
            ConnectionRetryJob.perform_later("block")

    assert str(raised.value) == "block: execution 3"
    assert connection_attempts == [("block", 1), ("block", 2), ("block", 3)]
    assert activejob.enqueued_jobs == []


def test_retry_on_one_attempt_never_retries(activejob):
    ConnectionNoRetryJob.perform_later("once")

    with pytest.raises(ConnectionError):
        activejob.perform_enqueued_jobs()

    assert connection_attempts == [("once", 1)]
    assert activejob.enqueued_jobs == []
    assert len(activejob.performed_jobs) == 1


def test_retry_goes_back_to_test_adapter(activejob):
    ConnectionRetryJob.perform_now("now")

    job = activejob.assert_enqueued_with(job=ConnectionRetryJob, args=["now"])
    assert job.executions == 1
    assert activejob.enqueued_jobs[0].payload["executions"] == 1
    assert activejob.enqueued_jobs[0].at is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("job_class", "performs"), [(ConnectionRetryJob, 3), (ConnectionNoRetryJob, 1)])
def test_retry_counts_match_database_worker(job_class, performs):
    with use_adapter(TestAdapter()) as adapter:
        job_class.perform_later("test adapter")
        with pytest.raises(ConnectionError):
            JobTestHelper(adapter).perform_enqueued_jobs()

    job_class.perform_later("database")
    later = timezone.now() + datetime.timedelta(minutes=1)
    worker = Worker(WorkerOptions(identifier="retry-counts"), now=lambda: later)
    worker.work_off()

    counts = Counter(label for label, _ in connection_attempts)
    assert counts == {"test adapter": performs, "database": performs}
    executions = [count for label, count in connection_attempts if label == "database"]
    assert executions == list(range(1, performs + 1))
    # The exception that escaped retry_on reached the worker, which schedules its own retry.
    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.run_at > later


@pytest.mark.django_db(transaction=True)
def test_max_attempts_one_keeps_counts_equal():
    ConnectionRetryFinalJob.perform_later("database")
    first = timezone.now() + datetime.timedelta(minutes=1)
    Worker(WorkerOptions(identifier="retry-final"), now=lambda: first).work_off()
    much_later = first + datetime.timedelta(days=30)
    Worker(WorkerOptions(identifier="retry-final"), now=lambda: much_later).work_off()

    assert connection_attempts == [("database", 1), ("database", 2), ("database", 3)]
    assert DelayedJob.objects.get().failed_at is not None


def test_retry_not_logged_as_halted(activejob, caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")
    ConnectionRetryJob.perform_later("log")

    with pytest.raises(ConnectionError):
        activejob.perform_enqueued_jobs()

    assert caplog.text.count("Retrying ConnectionRetryJob") == 2
    assert "Halted ConnectionRetryJob" not in caplog.text


# assert_enqueued_jobs and assert_no_enqueued_jobs


def test_assert_enqueued_jobs_counts_waiting_jobs(activejob):
    activejob.assert_enqueued_jobs(0)
    NoopJob.perform_later(1)
    EchoJob.set(queue="mail").perform_later("x")

    activejob.assert_enqueued_jobs(2)
    activejob.assert_enqueued_jobs(1, only=NoopJob)
    activejob.assert_enqueued_jobs(2, only=[NoopJob, EchoJob])
    activejob.assert_enqueued_jobs(1, except_=NoopJob)
    activejob.assert_enqueued_jobs(1, queue="mail")
    activejob.assert_enqueued_jobs(1, only=lambda record: record.args == ["x"])


def test_assert_enqueued_jobs_failure_lists_jobs(activejob):
    assert failure(lambda: activejob.assert_enqueued_jobs(1)) == "Expected 1 enqueued job, got 0."

    NoopJob.perform_later(1)
    assert failure(lambda: activejob.assert_enqueued_jobs(2)) == (
        "Expected 2 enqueued jobs, got 1:\n"
        "  NoopJob(1) queue=default priority=0"
    )

    EchoJob.set(queue="mail", priority=3, wait_until=LATER).perform_later("x", to="a@example.com")
    assert failure(lambda: activejob.assert_enqueued_jobs(2, only=NoopJob)) == (
        "Expected 2 enqueued jobs matching only=NoopJob, got 1:\n"
        "  NoopJob(1) queue=default priority=0\n"
        "Other enqueued jobs:\n"
        "  EchoJob('x', to='a@example.com') queue=mail priority=3 at=2030-01-02T03:04:05+00:00"
    )
    assert failure(lambda: activejob.assert_enqueued_jobs(1, queue="low")) == (
        "Expected 1 enqueued job matching queue='low', got 0.\n"
        "Other enqueued jobs:\n"
        "  NoopJob(1) queue=default priority=0\n"
        "  EchoJob('x', to='a@example.com') queue=mail priority=3 at=2030-01-02T03:04:05+00:00"
    )


def test_assert_enqueued_jobs_failure_names_filters(activejob):
    def is_urgent(record):
        return record.priority < 0

    message = failure(lambda: activejob.assert_enqueued_jobs(1, except_=[NoopJob, EchoJob], queue="mail"))
    assert message == "Expected 1 enqueued job matching except_=[NoopJob, EchoJob], queue='mail', got 0."
    message = failure(lambda: activejob.assert_enqueued_jobs(1, only=is_urgent))
    assert message == "Expected 1 enqueued job matching only=is_urgent, got 0."


def test_assert_enqueued_jobs_block(activejob):
    NoopJob.perform_later("before")

    with activejob.assert_enqueued_jobs(2) as block:
        NoopJob.perform_later("inside")
        EchoJob.perform_later("inside")

    assert [record.args for record in block.jobs] == [["inside"], ["inside"]]
    with activejob.assert_enqueued_jobs(1, only=EchoJob):
        NoopJob.perform_later()
        EchoJob.perform_later()


def test_assert_enqueued_jobs_block_failure(activejob):
    NoopJob.perform_later("before")

    def enqueue_one():
        with activejob.assert_enqueued_jobs(2):
            NoopJob.perform_later(1)

    assert failure(enqueue_one) == (
        "Expected 2 jobs enqueued in the block, got 1:\n"
        "  NoopJob(1) queue=default priority=0"
    )

    def enqueue_other():
        with activejob.assert_enqueued_jobs(1, only=EchoJob):
            NoopJob.perform_later(2)

    assert failure(enqueue_other) == (
        "Expected 1 job enqueued in the block matching only=EchoJob, got 0.\n"
        "Other jobs enqueued in the block:\n"
        "  NoopJob(2) queue=default priority=0"
    )


def test_enqueued_block_counts_performed_jobs(activejob):
    with activejob.assert_enqueued_jobs(3), activejob.perform_enqueued_jobs():
        ChainJob.perform_later("a", "b", "c")

    activejob.assert_no_enqueued_jobs()


def test_enqueued_block_keeps_exception(activejob):
    with pytest.raises(KeyError):
        with activejob.assert_enqueued_jobs(5):
            raise KeyError("from the block")


def test_nested_count_blocks(activejob):
    with activejob.assert_enqueued_jobs(3):
        NoopJob.perform_later()
        with activejob.assert_enqueued_jobs(1, only=EchoJob):
            with activejob.assert_no_enqueued_jobs(only=PriorityJob):
                EchoJob.perform_later()
                NoopJob.perform_later()


@pytest.mark.parametrize(("number", "error"), [(-1, ValueError), (1.0, TypeError), ("1", TypeError), (True, TypeError)])
def test_assert_enqueued_jobs_rejects_bad_number(activejob, number, error):
    with pytest.raises(error) as raised:
        activejob.assert_enqueued_jobs(number)

    assert f"The expected number of jobs {number!r} is invalid: pass an int of 0 or more." == str(raised.value)


def test_assert_no_enqueued_jobs(activejob):
    activejob.assert_no_enqueued_jobs()
    with activejob.assert_no_enqueued_jobs():
        pass
    with activejob.assert_no_enqueued_jobs(except_=NoopJob):
        NoopJob.perform_later()

    assert failure(lambda: activejob.assert_no_enqueued_jobs()) == (
        "Expected 0 enqueued jobs, got 1:\n"
        "  NoopJob() queue=default priority=0"
    )

    def enqueue_echo():
        with activejob.assert_no_enqueued_jobs(queue="default"):
            EchoJob.perform_later(1)

    assert failure(enqueue_echo) == (
        "Expected 0 jobs enqueued in the block matching queue='default', got 1:\n"
        "  EchoJob(1) queue=default priority=0"
    )


def test_with_form_through_wrapper_function(activejob):
    def expect_one_enqueued():
        return activejob.assert_enqueued_jobs(1)

    with expect_one_enqueued():
        NoopJob.perform_later()


def test_with_form_needs_with_statement(activejob):
    # enter_context() is a plain call in between, so the helper checks at once.
    with contextlib.ExitStack() as stack:
        message = failure(lambda: stack.enter_context(activejob.assert_enqueued_jobs(1)))

    assert message == "Expected 1 enqueued job, got 0."


# assert_enqueued_with


def test_assert_enqueued_with_returns_job(activejob):
    enqueued = EchoJob.set(queue="mail", priority=3, wait_until=LATER).perform_later(1, key="v")
    NoopJob.perform_later()

    job = activejob.assert_enqueued_with(
        job=EchoJob, args=[1], kwargs={"key": "v"}, queue="mail", priority=3, at=LATER
    )

    assert isinstance(job, EchoJob)
    assert job is not enqueued
    assert job.job_id == enqueued.job_id
    assert job.arguments == [1]
    assert job.kwargs == {"key": "v"}
    assert job.scheduled_at == LATER
    activejob.assert_enqueued_with(job=NoopJob)
    activejob.assert_enqueued_with(args=(1,))
    activejob.assert_enqueued_with()


def test_assert_enqueued_with_callables(activejob):
    EchoJob.set(wait_until=LATER).perform_later(5, {"nested": [1, 2]}, name="x")

    activejob.assert_enqueued_with(
        job=lambda job_class: issubclass(job_class, Job),
        args=lambda args: args[0] > 1 and args[1]["nested"] == [1, 2],
        kwargs=lambda kwargs: "name" in kwargs,
        queue=lambda queue: queue.startswith("def"),
        priority=lambda priority: priority >= 0,
        at=lambda at: at.year == 2030,
    )

    message = failure(lambda: activejob.assert_enqueued_with(args=lambda args: len(args) == 3))
    assert message == (
        "No enqueued job matches args=<lambda>. Enqueued jobs:\n"
        "  EchoJob(5, {'nested': [1, 2]}, name='x') queue=default priority=0 "
        "at=2030-01-02T03:04:05+00:00 (differs in args)"
    )


def test_assert_enqueued_with_at_within_one_second(activejob):
    EchoJob.set(wait_until=LATER).perform_later()

    activejob.assert_enqueued_with(at=LATER + datetime.timedelta(milliseconds=900))
    activejob.assert_enqueued_with(at=LATER - datetime.timedelta(seconds=1))
    message = failure(lambda: activejob.assert_enqueued_with(at=LATER + datetime.timedelta(seconds=2)))
    assert message == (
        "No enqueued job matches at=2030-01-02T03:04:07+00:00. Enqueued jobs:\n"
        "  EchoJob() queue=default priority=0 at=2030-01-02T03:04:05+00:00 (differs in at)"
    )


def test_assert_enqueued_with_at_needs_scheduled_job(activejob):
    EchoJob.perform_later()

    message = failure(lambda: activejob.assert_enqueued_with(job=EchoJob, at=LATER))

    assert message == (
        "No enqueued job matches job=EchoJob, at=2030-01-02T03:04:05+00:00. Enqueued jobs:\n"
        "  EchoJob() queue=default priority=0 (differs in at)"
    )


def test_assert_enqueued_with_failure_lists_jobs(activejob):
    message = failure(lambda: activejob.assert_enqueued_with(job=NoopJob, args=[2]))
    assert message == "No enqueued job matches job=NoopJob, args=[2]. There are no enqueued jobs."

    NoopJob.perform_later(1)
    EchoJob.set(queue="mail").perform_later(2)
    message = failure(
        lambda: activejob.assert_enqueued_with(job=NoopJob, args=(2,), kwargs={}, queue="mail", priority=0)
    )
    assert message == (
        "No enqueued job matches job=NoopJob, args=[2], kwargs={}, queue='mail', priority=0. Enqueued jobs:\n"
        "  NoopJob(1) queue=default priority=0 (differs in args, queue)\n"
        "  EchoJob(2) queue=mail priority=0 (differs in job)"
    )


def test_assert_enqueued_with_block(activejob):
    NoopJob.perform_later(1)

    with activejob.assert_enqueued_with(job=NoopJob, args=[2]) as block:
        NoopJob.perform_later(2)

    assert block.job.arguments == [2]
    assert [record.args for record in block.jobs] == [[2]]

    def enqueue_other():
        with activejob.assert_enqueued_with(job=NoopJob, args=[1]):
            EchoJob.perform_later(1)

    assert failure(enqueue_other) == (
        "No job enqueued in the block matches job=NoopJob, args=[1]. Jobs enqueued in the block:\n"
        "  EchoJob(1) queue=default priority=0 (differs in job)"
    )

    def enqueue_nothing():
        with activejob.assert_enqueued_with(job=NoopJob):
            pass

    assert failure(enqueue_nothing) == (
        "No job enqueued in the block matches job=NoopJob. No jobs were enqueued in the block."
    )


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"job": "NoopJob"}, "job='NoopJob' is invalid: pass a Job subclass, or a callable"),
        ({"job": str}, "job=<class 'str'> is invalid: pass a Job subclass, or a callable"),
        ({"args": 1}, "args=1 is invalid: pass a list of positional arguments, or a callable"),
        ({"kwargs": [1]}, "kwargs=[1] is invalid: pass a dict of keyword arguments, or a callable"),
        ({"queue": 1}, "queue=1 is invalid: pass a queue name, or a callable"),
        ({"priority": "high"}, "priority='high' is invalid: pass an int, or a callable"),
        ({"at": "noon"}, "at='noon' is invalid: pass a datetime, or a callable"),
    ],
)
def test_assert_enqueued_with_rejects_bad_criteria(activejob, criteria, message):
    with pytest.raises(TypeError) as raised:
        activejob.assert_enqueued_with(**criteria)

    assert str(raised.value).startswith(message)


# assert_performed_jobs, assert_no_performed_jobs, assert_performed_with


def test_assert_performed_jobs_counts_performed_jobs(activejob):
    activejob.assert_performed_jobs(0)
    NoopJob.perform_later()
    EchoJob.set(queue="mail").perform_later(1)
    activejob.perform_enqueued_jobs()

    activejob.assert_performed_jobs(2)
    activejob.assert_performed_jobs(1, only=EchoJob)
    activejob.assert_performed_jobs(1, queue="mail")
    assert failure(lambda: activejob.assert_performed_jobs(1, except_=PriorityJob)) == (
        "Expected 1 performed job matching except_=PriorityJob, got 2:\n"
        "  NoopJob() queue=default priority=0\n"
        "  EchoJob(1) queue=mail priority=0"
    )


def test_assert_performed_jobs_block_performs(activejob):
    NoopJob.perform_later("before")

    with activejob.assert_performed_jobs(2) as block:
        EchoJob.perform_later(1)
        EchoJob.set(wait_until=LATER).perform_later(2)

    assert echoed == [((1,), {}), ((2,), {})]
    assert len(block.jobs) == 2
    activejob.assert_enqueued_jobs(1, only=NoopJob)

    with activejob.assert_performed_jobs(1, only=EchoJob):
        EchoJob.perform_later(3)
        NoopJob.perform_later()
    activejob.assert_enqueued_jobs(2, only=NoopJob)


def test_assert_performed_jobs_block_failure(activejob):
    def perform_two():
        with activejob.assert_performed_jobs(1):
            EchoJob.perform_later(1)
            EchoJob.perform_later(2)

    assert failure(perform_two) == (
        "Expected 1 job performed in the block, got 2:\n"
        "  EchoJob(1) queue=default priority=0\n"
        "  EchoJob(2) queue=default priority=0"
    )

    def perform_none():
        with activejob.assert_performed_jobs(1, only=EchoJob):
            NoopJob.perform_later()

    assert failure(perform_none) == "Expected 1 job performed in the block matching only=EchoJob, got 0."


def test_assert_no_performed_jobs(activejob):
    activejob.assert_no_performed_jobs()
    with activejob.assert_no_performed_jobs(only=EchoJob):
        NoopJob.perform_later()
    activejob.assert_enqueued_jobs(1)

    def perform_one():
        with activejob.assert_no_performed_jobs():
            NoopJob.perform_later(1)

    assert failure(perform_one) == (
        "Expected 0 jobs performed in the block, got 1:\n"
        "  NoopJob(1) queue=default priority=0"
    )
    assert failure(lambda: activejob.assert_no_performed_jobs()) == (
        "Expected 0 performed jobs, got 1:\n"
        "  NoopJob(1) queue=default priority=0"
    )


def test_assert_performed_with(activejob):
    EchoJob.set(priority=-1).perform_later("a", key=1)
    activejob.perform_enqueued_jobs()

    job = activejob.assert_performed_with(job=EchoJob, args=["a"], kwargs={"key": 1}, priority=-1)

    assert job.arguments == ["a"]
    assert failure(lambda: activejob.assert_performed_with(job=NoopJob)) == (
        "No performed job matches job=NoopJob. Performed jobs:\n"
        "  EchoJob('a', key=1) queue=default priority=-1 (differs in job)"
    )
    activejob.performed_jobs.clear()
    assert failure(lambda: activejob.assert_performed_with(job=EchoJob)) == (
        "No performed job matches job=EchoJob. There are no performed jobs."
    )


def test_assert_performed_with_block(activejob):
    with activejob.assert_performed_with(job=EchoJob, args=[1]) as block:
        EchoJob.perform_later(1)
        NoopJob.perform_later()

    assert echoed == [((1,), {})]
    assert block.job.arguments == [1]

    def perform_other():
        with activejob.assert_performed_with(job=EchoJob, args=[2]):
            EchoJob.perform_later(3)

    assert failure(perform_other) == (
        "No job performed in the block matches job=EchoJob, args=[2]. Jobs performed in the block:\n"
        "  EchoJob(3) queue=default priority=0 (differs in args)"
    )

    def perform_nothing():
        with activejob.assert_performed_with(job=EchoJob):
            pass

    assert failure(perform_nothing) == (
        "No job performed in the block matches job=EchoJob. No jobs were performed in the block."
    )


def test_nested_enqueued_and_performed_blocks(activejob):
    with activejob.assert_enqueued_jobs(2), activejob.assert_performed_jobs(1, only=EchoJob):
        with activejob.assert_enqueued_with(job=EchoJob) as echo_block:
            EchoJob.perform_later("x")
        NoopJob.perform_later()

    assert echo_block.job.arguments == ["x"]
    assert echoed == [(("x",), {})]
    activejob.assert_enqueued_with(job=NoopJob)


# ActiveJobTestMixin


class TestMixinWithTestCase(ActiveJobTestMixin, TestCase):
    def setUp(self):
        super().setUp()
        EchoJob.perform_later("from setUp")

    def test_adapter_is_fresh_test_adapter(self):
        self.assertIs(current_adapter(), self.queue_adapter)
        self.assertIsInstance(self.queue_adapter, TestAdapter)
        self.assert_enqueued_jobs(1)

    def test_records_inside_atomic_block(self):
        with transaction.atomic():
            RecordJob.perform_later("atomic")

        self.assert_enqueued_with(job=RecordJob, args=["atomic"])
        self.assertEqual(Performance.objects.count(), 0)
        self.assertEqual(self.perform_enqueued_jobs(), 2)
        self.assertEqual(Performance.objects.get().label, "atomic")

    def test_helpers_as_methods(self):
        self.enqueued_jobs.clear()

        with self.assert_enqueued_jobs(1), self.assert_no_enqueued_jobs(only=NoopJob):
            MailQueueJob.perform_later("mail")
        with self.assert_performed_jobs(1):
            EchoJob.perform_later("performed")
        # The block performs only the jobs it selects, here none.
        with self.assert_no_performed_jobs(only=NoopJob):
            EchoJob.perform_later("not performed")
        with self.assert_enqueued_with(job=EchoJob, args=["with"]) as block:
            EchoJob.perform_later("with")
        self.assertEqual(block.job.arguments, ["with"])
        with self.assert_performed_with(job=EchoJob, args=["performed with"]):
            EchoJob.perform_later("performed with")
        with self.perform_enqueued_jobs(only=MailQueueJob):
            MailQueueJob.perform_later("mail 2")

        self.assert_performed_jobs(2, only=EchoJob)
        self.assert_performed_with(job=MailQueueJob, queue="mail")
        self.assertEqual(len(self.performed_jobs), 3)
        self.assertEqual(len(self.enqueued_jobs), 3)

    def test_failure_message(self):
        with self.assertRaises(AssertionError) as raised:
            self.assert_enqueued_jobs(2)

        self.assertEqual(
            str(raised.exception),
            "Expected 2 enqueued jobs, got 1:\n  EchoJob('from setUp') queue=default priority=0",
        )


class TestMixinWithTransactionTestCase(ActiveJobTestMixin, TransactionTestCase):
    def test_performs_database_job(self):
        RecordJob.perform_later("transaction test case")

        self.assertEqual(DelayedJob.objects.count(), 0)
        with self.assert_performed_jobs(1):
            RecordJob.perform_later("performed")
        self.perform_enqueued_jobs()

        self.assertEqual(
            sorted(Performance.objects.values_list("label", flat=True)), ["performed", "transaction test case"]
        )

    def test_retry_counts(self):
        with self.assertRaises(ConnectionError):
            with self.perform_enqueued_jobs():
                ConnectionRetryJob.perform_later("mixin")

        self.assertEqual(connection_attempts, [("mixin", 1), ("mixin", 2), ("mixin", 3)])


def test_mixin_restores_adapter_after_failing_test():
    seen = []

    class FailingTests(ActiveJobTestMixin, unittest.TestCase):
        def test_counts(self):
            seen.append(current_adapter())
            NoopJob.perform_later()
            self.assert_enqueued_jobs(2)

    result = unittest.TestResult()
    FailingTests("test_counts").run(result)

    assert len(result.failures) == 1
    assert "AssertionError: Expected 2 enqueued jobs, got 1:\n  NoopJob() queue=default priority=0" in (
        result.failures[0][1]
    )
    assert isinstance(seen[0], TestAdapter)
    assert not isinstance(current_adapter(), TestAdapter)


def test_mixin_adapter_can_be_replaced():
    class CountingAdapter(TestAdapter):
        pass

    class CustomTests(ActiveJobTestMixin, unittest.TestCase):
        def queue_adapter_for_test(self):
            return CountingAdapter()

        def test_adapter(self):
            self.assertIsInstance(current_adapter(), CountingAdapter)

    result = unittest.TestResult()
    CustomTests("test_adapter").run(result)

    assert result.wasSuccessful(), result.failures
