"""retry_on, discard_on and rescue_from, through the database adapter and a worker."""

import datetime
import logging

import pytest
from django.utils import timezone

from django_activejob.models import DelayedJob
from django_activejob.rescue import RetryHandler, discard_on, retry_on
from django_activejob.worker import Worker, WorkerOptions
from tests.testapp.lifecycle_jobs import (
    DatabaseErrorJob,
    FlakyError,
    InvoiceMailJob,
    RescuingChildJob,
    RescuingJob,
    RetryLaterJob,
    RetryThreeJob,
    RetryWithHandlerJob,
    TwoCountersJob,
    events,
)
from tests.testapp.models import Invoice, Performance

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clear_events():
    events.clear()


def work_off() -> Worker:
    worker = Worker(WorkerOptions(identifier="rescue-worker"))
    worker.work_off()
    return worker


def executions(label: str) -> list[str]:
    return list(Performance.objects.filter(label=label).order_by("id").values_list("value", flat=True))


def test_retry_on_counts_first_execution(caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")
    job = RetryThreeJob.perform_later()

    work_off()

    assert executions("retry-three") == ["1", "2", "3"]
    row = DelayedJob.objects.get()
    # The third failure ran out of retry_on attempts and reached the worker's own retry.
    assert row.attempts == 1
    assert row.job_id == job.job_id
    assert row.last_error.startswith("tests.testapp.lifecycle_jobs.FlakyError: execution 3")
    assert row.run_at > timezone.now()
    assert caplog.text.count("Retrying RetryThreeJob") == 2
    assert "Stopped retrying RetryThreeJob" in caplog.text


def test_retry_keeps_job_id_and_counts():
    job = RetryThreeJob.perform_later()
    worker = Worker(WorkerOptions(identifier="one-pass", read_ahead=1))
    worker.work(worker._reserve())

    row = DelayedJob.objects.get()
    payload = row.handler
    assert row.job_id == job.job_id
    assert row.attempts == 0
    assert '"executions":1' in payload
    assert '"retry_on:tests.testapp.lifecycle_jobs.FlakyError":1' in payload


def test_retry_handler_runs_when_exhausted():
    RetryWithHandlerJob.perform_later()

    work_off()

    assert executions("retry-handler") == ["1", "2"]
    assert DelayedJob.objects.count() == 0
    assert events == ["after_discard FlakyError", "retries exhausted after 2: always"]


def test_each_retry_on_declaration_counts_separately():
    TwoCountersJob.perform_later()

    work_off()

    # Two OtherErrors (limit 4, not reached), then FlakyError twice (limit 2).
    assert executions("two-counters") == ["1", "2", "3", "4"]
    row = DelayedJob.objects.get()
    assert row.last_error.startswith("tests.testapp.lifecycle_jobs.FlakyError: then flaky")


def test_discard_on_missing_record(caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")
    invoice = Invoice.objects.create(number="A-42")
    job = InvoiceMailJob.perform_later(invoice)
    pk = invoice.pk
    invoice.delete()

    worker = work_off()

    assert DelayedJob.objects.count() == 0
    assert Performance.objects.count() == 0
    assert events == [
        f"discard handler: Invoice with pk={pk} was not found; it was deleted after the job was enqueued.",
        "after_discard RecordNotFoundDeserializationError",
    ]
    assert f"Discarded InvoiceMailJob (Job ID: {job.job_id}) due to a RecordNotFoundDeserializationError" in caplog.text
    assert worker.performed == 1


def test_discard_on_missing_record_ignores_database_errors():
    DatabaseErrorJob.perform_later()

    work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.failed_at is None
    assert row.last_error.startswith("django.db.utils.OperationalError: server closed the connection")


def test_rescue_from_handles_and_reraises():
    assert RescuingJob.perform_now("value") is None
    assert events == ["rescued bad value"]

    with pytest.raises(KeyError):
        RescuingJob.perform_now("key")
    with pytest.raises(RuntimeError):
        RescuingJob.perform_now("other")
    assert events == ["rescued bad value", "re-raising"]


def test_subclass_declaration_wins():
    RescuingChildJob.perform_later("value")
    worker = Worker(WorkerOptions(identifier="child", read_ahead=1))
    worker.work(worker._reserve())

    # retry_on of the subclass took the ValueError, not the parent's rescue_from.
    assert events == []
    assert DelayedJob.objects.count() == 1


def test_polynomial_wait_with_jitter():
    handler = RetryHandler((FlakyError,), wait="polynomially_longer", jitter=0.15)

    for executions_count, low, high in [(1, 3, 3.15), (2, 18, 20.4), (3, 83, 95.15)]:
        for _ in range(50):
            seconds = handler.delay(executions_count).total_seconds()
            assert low <= seconds <= high


def test_fixed_and_callable_waits():
    fixed = RetryHandler((FlakyError,), wait=datetime.timedelta(seconds=10), jitter=0)
    computed = RetryHandler((FlakyError,), wait=lambda count: count * 7)

    assert fixed.delay(4).total_seconds() == 10
    assert computed.delay(3).total_seconds() == 21
    assert 3 <= RetryHandler((FlakyError,)).delay(1).total_seconds() <= 3.45


def test_retry_wait_queue_and_priority():
    RetryLaterJob.perform_later()
    before = timezone.now()

    work_off()

    row = DelayedJob.objects.get()
    assert row.queue == "retries"
    assert row.priority == 50
    assert row.attempts == 0
    assert before + datetime.timedelta(seconds=29) < row.run_at
    assert row.run_at < timezone.now() + datetime.timedelta(seconds=31)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": 0}, "attempts=0 is invalid: pass an int of 1 or more, or 'unlimited'."),
        ({"attempts": "forever"}, "attempts='forever' is invalid"),
        ({"wait": "exponentially"}, "wait='exponentially' is invalid: pass seconds (0 or more), a timedelta"),
        ({"wait": -1}, "wait=-1 is invalid"),
        ({"jitter": -0.5}, "jitter=-0.5 is invalid"),
    ],
)
def test_retry_on_rejects_bad_options(options, message):
    with pytest.raises(ValueError) as raised:
        retry_on(FlakyError, **options)

    assert message in str(raised.value)


def test_declarations_reject_non_exceptions():
    with pytest.raises(TypeError) as raised:
        discard_on("ValueError")

    assert str(raised.value) == "'ValueError' is not an Exception subclass."
    with pytest.raises(TypeError):
        retry_on()
    with pytest.raises(TypeError) as raised:
        retry_on(FlakyError)(object)
    assert "is not a Job subclass" in str(raised.value)


def test_unlimited_attempts():
    handler = RetryHandler((FlakyError,), attempts=float("inf"))

    assert handler.attempts > 10**9


def test_worker_retries_after_retry_on_gives_up():
    RetryThreeJob.perform_later()
    work_off()
    later = timezone.now() + datetime.timedelta(seconds=7)

    Worker(WorkerOptions(identifier="later"), now=lambda: later).work_off()

    # retry_on stays used up, so execution 4 goes straight to the worker's retry.
    assert executions("retry-three") == ["1", "2", "3", "4"]
    row = DelayedJob.objects.get()
    assert row.attempts == 2
    assert row.last_error.startswith("tests.testapp.lifecycle_jobs.FlakyError: execution 4")


def test_lifecycle_signals_sent():
    from django_activejob import signals

    received = []

    def remember(signal_name):
        def receiver(sender, job, **kwargs):
            received.append((signal_name, sender.__name__))

        return receiver

    names = ["job_enqueued", "job_started", "job_performed", "job_failed",
             "job_retry_scheduled", "job_retry_stopped", "job_discarded"]
    receivers = {name: remember(name) for name in names}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver)
    try:
        RetryWithHandlerJob.perform_later()
        work_off()
        RescuingJob.perform_now("value")
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)

    assert received == [
        ("job_enqueued", "RetryWithHandlerJob"),
        ("job_started", "RetryWithHandlerJob"),
        ("job_retry_scheduled", "RetryWithHandlerJob"),
        ("job_enqueued", "RetryWithHandlerJob"),
        ("job_started", "RetryWithHandlerJob"),
        ("job_retry_stopped", "RetryWithHandlerJob"),
        ("job_started", "RescuingJob"),
        ("job_performed", "RescuingJob"),
    ]


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (lambda: retry_on(FlakyError, queue=""), "Queue name '' is invalid"),
        (lambda: retry_on(FlakyError, priority="high"), "Priority 'high' is invalid"),
        (lambda: retry_on(FlakyError, handler=5), "retry_on(handler=5) is invalid: pass a callable"),
        (lambda: discard_on(FlakyError, handler="x"), "discard_on(handler='x') is invalid: pass a callable"),
    ],
)
def test_declaration_options_checked_early(declare, message):
    with pytest.raises((TypeError, ValueError)) as raised:
        declare()

    assert message in str(raised.value)


def test_retry_with_wait_on_inline_adapter_is_clear():
    from django.test import override_settings

    from django_activejob import UnsupportedFeatureError

    with override_settings(ACTIVEJOB={"QUEUE_ADAPTER": "inline"}), pytest.raises(UnsupportedFeatureError) as raised:
        RetryLaterJob.perform_later()

    assert str(raised.value) == (
        "RetryLaterJob has retry_on(tests.testapp.lifecycle_jobs.FlakyError) with a wait of 30 s, but "
        "the inline adapter can't schedule the retry. Pass retry_on(..., wait=0), or use the database adapter."
    )
    assert isinstance(raised.value.__cause__, FlakyError)
