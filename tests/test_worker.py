"""The worker in-process: outcomes, retries, bad rows and queue filters."""

import datetime
import json

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_activejob.models import DelayedJob, JobState
from django_activejob.worker import Worker, WorkerOptions
from django_activejob.worker.errors import TRUNCATION_MARKER
from django_activejob.worker.outcome import retry_delay
from django_activejob.worker.reserve import LOCK_EXPIRY_MARGIN
from tests.testapp.jobs import (
    BoomJob,
    FailJob,
    GreetJob,
    HugeErrorJob,
    InvoiceJob,
    LengthJob,
    LimitedJob,
    RecordJob,
)
from tests.testapp.models import Invoice, Performance
from tests.testapp.worker_jobs import ShortLimitJob

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    """A settable clock for the worker."""

    def __init__(self) -> None:
        # A second ahead, so jobs enqueued right after creation are due.
        self.current = timezone.now() + datetime.timedelta(seconds=1)

    def __call__(self) -> datetime.datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += datetime.timedelta(seconds=seconds)


def work_off(clock=None, **options) -> Worker:
    options.setdefault("identifier", "test-worker")
    worker = Worker(WorkerOptions(**options), now=clock or timezone.now)
    worker.work_off()
    return worker


def test_success_deletes_row():
    RecordJob.perform_later("one")

    worker = work_off()

    assert DelayedJob.objects.count() == 0
    assert Performance.objects.get().label == "one"
    assert worker.performed == 1


def test_failure_reschedules_with_backoff():
    clock = Clock()
    FailJob.perform_later("smtp down")

    work_off(clock)

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.locked_at is None
    assert row.locked_by is None
    assert row.failed_at is None
    assert row.run_at == clock.current + datetime.timedelta(seconds=6)
    assert row.last_error.startswith("RuntimeError: smtp down\nTraceback (most recent call last):")
    assert 'raise RuntimeError(message)' in row.last_error
    assert row.state() == JobState.SCHEDULED


def test_retry_delay_formula():
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 5)] == [6, 21, 86, 630]


def test_failed_after_max_attempts():
    clock = Clock()
    with override_settings(ACTIVEJOB={"MAX_ATTEMPTS": 3}):
        FailJob.perform_later()
        for expected_attempts in (1, 2):
            work_off(clock)
            row = DelayedJob.objects.get()
            assert row.attempts == expected_attempts
            assert row.failed_at is None
            # Not due yet: a second pass at the same time runs nothing.
            work_off(clock)
            assert DelayedJob.objects.get().attempts == expected_attempts
            clock.advance(retry_delay(expected_attempts).total_seconds())
        work_off(clock)

    row = DelayedJob.objects.get()
    assert row.attempts == 3
    assert row.failed_at == clock.current
    assert row.state() == JobState.FAILED
    # A failed row is never reserved again.
    clock.advance(10**6)
    work_off(clock)
    assert DelayedJob.objects.get().attempts == 3


def test_destroy_failed_jobs_deletes_row():
    with override_settings(ACTIVEJOB={"MAX_ATTEMPTS": 1, "DESTROY_FAILED_JOBS": True}):
        FailJob.perform_later()
        work_off()

    assert DelayedJob.objects.count() == 0


def test_job_class_max_attempts():
    clock = Clock()
    LimitedJob.perform_later()

    work_off(clock)
    clock.advance(6)
    work_off(clock)

    row = DelayedJob.objects.get()
    assert row.attempts == 2
    assert row.failed_at is not None


def test_executions_count_worker_attempts():
    clock = Clock()
    seen = []

    from django_activejob import signals

    def remember(sender, job, **kwargs):
        seen.append(job.executions)

    signals.job_started.connect(remember)
    try:
        FailJob.perform_later()
        work_off(clock)
        clock.advance(6)
        work_off(clock)
    finally:
        signals.job_started.disconnect(remember)

    assert seen == [1, 2]


def test_missing_record_fails_and_retries():
    invoice = Invoice.objects.create(number="A-42")
    InvoiceJob.perform_later(invoice)
    pk = invoice.pk
    invoice.delete()

    work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.failed_at is None
    assert row.last_error.startswith(
        "django_activejob.exceptions.RecordNotFoundDeserializationError: "
        f"Invoice with pk={pk} was not found"
    )
    assert Performance.objects.count() == 0


# Bad rows must fail cleanly and never stop the worker.


def insert_row(handler: str, job_class: str = "tests.testapp.jobs.RemovedJob", **fields) -> DelayedJob:
    now = timezone.now()
    values = {
        "handler": handler, "job_class": job_class, "job_id": "00000000-0000-0000-0000-000000000001",
        "run_at": now - datetime.timedelta(minutes=1), "queue": "default", **fields,
    }
    return DelayedJob.objects.create(**values)


def handler_for(job_class: str, label: str = "template") -> str:
    job = RecordJob(label)
    job._apply_options()
    payload = job.serialize()
    payload["job_class"] = job_class
    return json.dumps(payload)


@pytest.mark.parametrize(
    ("job_class", "expected"),
    [
        ("tests.testapp.jobs.RemovedJob", "Job class 'tests.testapp.jobs.RemovedJob' could not be found"),
        ("tests.testapp.no_such_module.Job", "import of module 'tests.testapp.no_such_module' failed"),
        ("os.system", "Job class 'os.system' could not be found: it is not a Job subclass"),
        ("tests.testapp.models.Invoice", "Job class 'tests.testapp.models.Invoice' could not be found"),
    ],
)
def test_unknown_job_class_fails_permanently(job_class, expected):
    bad = insert_row(handler_for(job_class), job_class=job_class)
    RecordJob.perform_later("after")

    worker = work_off()

    bad.refresh_from_db()
    assert bad.failed_at is not None
    assert bad.attempts == 1
    assert bad.locked_by is None
    assert expected in bad.last_error
    assert bad.last_error.startswith("django_activejob.exceptions.JobClassNotFoundError: ")
    assert Performance.objects.filter(label="after").count() == 1
    assert worker.failed == 1


def test_truncated_handler_fails_permanently():
    RecordJob.perform_later("template")
    full = DelayedJob.objects.get()
    full.handler = full.handler[:100]
    full.save()
    RecordJob.set(priority=1).perform_later("behind")

    work_off()

    full.refresh_from_db()
    assert full.failed_at is not None
    assert full.attempts == 1
    assert "The handler is not valid JSON" in full.last_error
    assert "can't be deserialized" in full.last_error
    assert Performance.objects.filter(label="behind").count() == 1


@pytest.mark.parametrize(
    "text",
    ["a" * 70_000, "€" * 70_000, "a" * (5 * 1024 * 1024)],
    ids=["70k-ascii", "70k-3-byte", "5MiB-ascii"],
)
def test_large_payload_round_trips(text):
    LengthJob.perform_later("large", text)

    work_off()

    assert Performance.objects.get(label="large").value == text


def test_huge_error_message_is_capped():
    clock = Clock()
    HugeErrorJob.perform_later()
    RecordJob.set(priority=1).perform_later("behind")

    worker = work_off(clock)

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.locked_by is None
    assert row.run_at > clock.current
    assert row.last_error.startswith("ValueError: xxx")
    assert len(row.last_error.encode()) <= 64 * 1024
    assert TRUNCATION_MARKER in row.last_error
    assert row.last_error.rstrip().endswith("raise ValueError(\"x\" * 200_000 + \"€\" * 50_000)")
    assert Performance.objects.filter(label="behind").count() == 1
    assert worker.performed == 1


def test_emoji_argument_and_error_stored():
    title = "CEO 👨‍💼 ünïcödé"
    GreetJob.perform_later(title)
    BoomJob.perform_later()

    work_off()

    assert Performance.objects.get(label="greet").value == title
    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.last_error.startswith("RuntimeError: bad value 💥")


@pytest.mark.skipif(connection.vendor != "mysql", reason="MySQL character sets")
def test_emoji_error_in_utf8mb3_table_is_escaped():
    table = DelayedJob._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci")
    try:
        title = "CEO 👨‍💼 ünïcödé"
        GreetJob.perform_later(title)
        BoomJob.perform_later()
        RecordJob.set(priority=5).perform_later("behind")

        worker = work_off()

        assert Performance.objects.get(label="greet").value == title
        row = DelayedJob.objects.get()
        assert row.attempts == 1
        assert row.locked_by is None
        assert row.last_error.startswith("RuntimeError: bad value \\U0001f4a5")
        assert Performance.objects.filter(label="behind").count() == 1
        assert worker.performed == 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            # As the initial migration sets it, so queue names match case-sensitively.
            cursor.execute(
                f"ALTER TABLE {table} MODIFY queue varchar(255) CHARACTER SET utf8mb4 "
                f"COLLATE utf8mb4_bin NOT NULL"
            )


def test_nul_in_error_is_escaped():
    FailJob.perform_later("null \x00 byte")

    work_off()

    assert DelayedJob.objects.get().last_error.startswith("RuntimeError: null \\x00 byte")


# Locks and ownership


def test_lost_lock_leaves_row_alone():
    RecordJob.perform_later("taken over")
    worker = Worker(WorkerOptions(identifier="slow"))
    rows = worker._reserve()
    # Another worker took the row over, as after max_run_time.
    DelayedJob.objects.update(locked_by="other")

    worker.work(rows)

    row = DelayedJob.objects.get()
    assert row.locked_by == "other"


def test_expired_lock_reserved_again():
    clock = Clock()
    RecordJob.perform_later("stranded")
    DelayedJob.objects.update(
        locked_by="dead", locked_at=clock.current,
        lock_expires_at=clock.current + datetime.timedelta(seconds=30),
    )

    work_off(clock)
    assert DelayedJob.objects.get().locked_by == "dead"
    clock.advance(31)
    work_off(clock)

    assert DelayedJob.objects.count() == 0
    assert Performance.objects.filter(label="stranded").count() == 1


def test_legacy_lock_uses_global_limit():
    clock = Clock()
    RecordJob.perform_later("stranded")
    DelayedJob.objects.update(locked_by="dead", locked_at=clock.current, lock_expires_at=None)

    with override_settings(ACTIVEJOB={"MAX_RUN_TIME": 60, "INTERRUPT_GRACE": 10}):
        clock.advance(60 + 10)
        work_off(clock)
        assert DelayedJob.objects.get().locked_by == "dead"
        clock.advance(6)
        work_off(clock)

    assert Performance.objects.filter(label="stranded").count() == 1


def test_reserve_stores_the_lock_expiry_of_each_class():
    clock = Clock()
    RecordJob.perform_later("global limit")
    ShortLimitJob.perform_later()

    with override_settings(ACTIVEJOB={"MAX_RUN_TIME": 100, "INTERRUPT_GRACE": 10}):
        rows = Worker(WorkerOptions(identifier="reserver", read_ahead=5), now=clock)._reserve()

    expiry = {row.job_class.rsplit(".", 1)[1]: row.lock_expires_at - clock.current for row in rows}
    stored = {
        row.job_class.rsplit(".", 1)[1]: row.lock_expires_at - clock.current for row in DelayedJob.objects.all()
    }
    margin = LOCK_EXPIRY_MARGIN
    assert expiry == stored == {
        # The second row of the batch waits for the first, so its lock covers both limits.
        "RecordJob": datetime.timedelta(seconds=100 + 10 + margin),
        "ShortLimitJob": datetime.timedelta(seconds=100 + 10 + 2 + 10 + margin),
    }


def test_reserve_order_priority_run_at_id():
    now = timezone.now()
    RecordJob.set(priority=10).perform_later("p10")
    RecordJob.set(wait_until=now - datetime.timedelta(minutes=5), priority=0).perform_later("p0-older")
    RecordJob.set(priority=0).perform_later("p0-a")
    RecordJob.set(priority=0).perform_later("p0-b")
    RecordJob.set(priority=-5).perform_later("p-5")

    work_off(read_ahead=1)

    labels = list(Performance.objects.order_by("id").values_list("label", flat=True))
    assert labels == ["p-5", "p0-older", "p0-a", "p0-b", "p10"]


def test_scheduled_job_waits_for_run_at():
    clock = Clock()
    RecordJob.set(wait=120).perform_later("later")

    work_off(clock)
    assert Performance.objects.count() == 0
    clock.advance(121)
    work_off(clock)

    assert Performance.objects.filter(label="later").count() == 1


def test_queue_filters_match_exactly():
    for queue in ["mail", "mailers", "mail-1", "mail-10", "MAIL"]:
        RecordJob.set(queue=queue).perform_later(queue)
    RecordJob.perform_later("default")
    insert_row(
        handler_for("tests.testapp.jobs.RecordJob", "legacy-empty"),
        job_class="tests.testapp.jobs.RecordJob", queue="",
    )

    def ran():
        return set(Performance.objects.values_list("label", flat=True))

    work_off(queues=["mail"])
    assert ran() == {"mail"}
    work_off(queues=["mail-1"])
    assert ran() == {"mail", "mail-1"}
    work_off(queues=["default"])
    assert ran() == {"mail", "mail-1", "default", "legacy-empty"}
    work_off()
    assert ran() == {"mail", "mail-1", "default", "legacy-empty", "mailers", "mail-10", "MAIL"}


def test_priority_filters():
    for priority in (-5, 0, 10):
        RecordJob.set(priority=priority).perform_later(str(priority))

    work_off(min_priority=0, max_priority=5)

    assert list(Performance.objects.values_list("label", flat=True)) == ["0"]
    assert DelayedJob.objects.count() == 2


def test_stop_releases_reserved_rows():
    for label in ("a", "b", "c"):
        RecordJob.perform_later(label)
    worker = Worker(WorkerOptions(identifier="stopper", read_ahead=5))
    rows = worker._reserve()
    assert DelayedJob.objects.filter(locked_by="stopper").count() == 3

    worker.stop()
    worker.work(rows)

    assert DelayedJob.objects.filter(locked_by__isnull=True).count() == 3
    assert Performance.objects.count() == 0


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite serializes the reserve behind the open write")
def test_uncommitted_job_invisible_to_worker():
    import threading

    from django.db import connections, transaction

    def work_off_in_thread(results):
        try:
            results.append(work_off().performed)
        finally:
            connections.close_all()

    with transaction.atomic():
        RecordJob.perform_later("after commit")
        before_commit: list[int] = []
        thread = threading.Thread(target=work_off_in_thread, args=(before_commit,))
        thread.start()
        thread.join(timeout=30)

    assert before_commit == [0]
    assert DelayedJob.objects.count() == 1

    assert work_off().performed == 1
    assert Performance.objects.filter(label="after commit").count() == 1


@override_settings(TIME_ZONE="Europe/Berlin")
def test_wait_across_dst_runs_once_on_time(monkeypatch):
    frozen = datetime.datetime(2026, 10, 25, 0, 50, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    RecordJob.set(wait=datetime.timedelta(minutes=30)).perform_later("after the change")
    monkeypatch.undo()

    for minute in (1, 10, 19):
        work_off(lambda m=minute: datetime.datetime(2026, 10, 25, 1, m, 59, tzinfo=datetime.UTC))
    assert Performance.objects.count() == 0

    work_off(lambda: datetime.datetime(2026, 10, 25, 1, 20, tzinfo=datetime.UTC))
    work_off(lambda: datetime.datetime(2026, 10, 25, 2, 0, tzinfo=datetime.UTC))

    assert Performance.objects.filter(label="after the change").count() == 1
