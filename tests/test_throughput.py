"""The paths that make the worker and perform_all_later fast: batches, COPY and prepared statements."""

import datetime
import json
import time
import zoneinfo

import pytest
from django.db import connection, transaction
from django.utils import timezone, translation

from django_activejob import Job, perform_all_later
from django_activejob.models import DelayedJob
from django_activejob.worker import Worker, WorkerOptions
from django_activejob.worker.batching import BATCH_SECONDS, MAX_BATCH, BatchSize
from django_activejob.worker.worker import PERFORMED_FLUSH_DELAY
from tests.testapp.jobs import RecordJob
from tests.testapp.models import Performance
from tests.testapp.worker_jobs import QueueSizeJob

# Batch sizes.


def test_fixed_read_ahead_is_kept():
    size = BatchSize(7)
    size.record(7, 100.0)

    assert size.next() == 7


def test_first_batch_one_row():
    assert BatchSize().next() == 1


def test_short_jobs_grow_batch():
    size = BatchSize()
    for _ in range(20):
        size.record(size.next(), 0.0001 * size.next())

    assert size.next() == MAX_BATCH


def test_slow_jobs_shrink_batch():
    size = BatchSize()
    size.record(50, 50 * BATCH_SECONDS / 50)
    assert size.next() == 50

    for _ in range(10):
        size.record(1, 2.0)

    assert size.next() == 1


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "10"])
def test_invalid_read_ahead_rejected(value):
    with pytest.raises(ValueError, match=f"read_ahead {value!r} is invalid"):
        BatchSize(value)


# Batched deletes of performed rows.


def work_off_with_typical_time(seconds, **options):
    """Run a worker that already measured its jobs at ``seconds`` each, as after earlier batches."""
    worker = Worker(WorkerOptions(**options))
    worker.batch_size.job_seconds = seconds
    worker.work_off()
    return worker


@pytest.mark.django_db(transaction=True)
def test_short_jobs_deleted_together():
    for number in range(3):
        QueueSizeJob.perform_later(f"quick {number}")

    worker = work_off_with_typical_time(0.001, identifier="batcher", read_ahead=3)

    # Each job saw all three rows: the performed ones wait for one DELETE at the end.
    seen = dict(Performance.objects.values_list("label", "value"))
    assert seen == {"quick 0": "3", "quick 1": "3", "quick 2": "3"}
    assert DelayedJob.objects.count() == 0
    assert worker.performed == 3


@pytest.mark.django_db(transaction=True)
def test_slow_jobs_deleted_singly():
    for number in range(3):
        QueueSizeJob.set(priority=number).perform_later(f"slow {number}")

    work_off_with_typical_time(PERFORMED_FLUSH_DELAY, identifier="batcher", read_ahead=3)

    seen = dict(Performance.objects.values_list("label", "value"))
    assert seen == {"slow 0": "3", "slow 1": "2", "slow 2": "1"}


@pytest.mark.django_db(transaction=True)
def test_first_batch_deletes_singly():
    QueueSizeJob.set(priority=1).perform_later("first")
    QueueSizeJob.set(priority=2).perform_later("second")

    Worker(WorkerOptions(identifier="batcher", read_ahead=2)).work_off()

    # Before it measured any job, the worker can't tell that waiting is cheap.
    assert Performance.objects.get(label="second").value == "1"


@pytest.mark.django_db(transaction=True)
def test_waiting_rows_deleted_after_delay():
    QueueSizeJob.set(priority=1).perform_later("quick")
    QueueSizeJob.set(priority=2).perform_later("slow", PERFORMED_FLUSH_DELAY * 2)
    QueueSizeJob.set(priority=3).perform_later("last")

    work_off_with_typical_time(0.001, identifier="batcher", read_ahead=3)

    seen = dict(Performance.objects.values_list("label", "value"))
    assert seen == {"quick": "3", "slow": "3", "last": "1"}


@pytest.mark.django_db(transaction=True)
def test_batches_grow_during_run():
    perform_all_later([RecordJob(f"bulk {number}") for number in range(40)])
    sizes = []

    class CountingWorker(Worker):
        def _reserve(self):
            rows = super()._reserve()
            sizes.append(len(rows))
            return rows

    CountingWorker(WorkerOptions(identifier="grower")).work_off()

    assert sizes[0] == 1
    assert max(sizes) > 1
    assert sum(sizes) == 40
    assert Performance.objects.count() == 40


@pytest.mark.django_db(transaction=True)
def test_deleted_row_logs_lost_lock(caplog):
    jobs = [QueueSizeJob.perform_later(f"job {number}") for number in range(2)]

    class DeletingWorker(Worker):
        def _execute(self, row):
            execution = super()._execute(row)
            if row.pk == jobs[0].provider_job_id:
                DelayedJob.objects.filter(pk=row.pk).delete()
            return execution

    worker = DeletingWorker(WorkerOptions(identifier="w-lost", read_ahead=2))
    worker.work_off()

    assert f"no longer owns the lock on row id={jobs[0].provider_job_id}" in caplog.text
    assert f"row id={jobs[1].provider_job_id}" not in caplog.text
    assert DelayedJob.objects.count() == 0


# perform_all_later's COPY path and the rows it writes.


COMPARED_FIELDS = ("priority", "queue", "job_class", "attempts", "max_attempts", "max_run_time",
                   "failed_at", "locked_at", "locked_by", "last_error", "lock_expires_at")


@pytest.mark.django_db(transaction=True)
def test_bulk_rows_match_single_enqueue():
    single = QueueSizeJob.set(queue="compare", priority=3).perform_later("same", 1.5)
    bulk = QueueSizeJob("same", 1.5).set(queue="compare", priority=3)
    perform_all_later([bulk])

    one = DelayedJob.objects.get(pk=single.provider_job_id)
    other = DelayedJob.objects.get(pk=bulk.provider_job_id)
    assert [getattr(other, name) for name in COMPARED_FIELDS] == [getattr(one, name) for name in COMPARED_FIELDS]
    assert other.job_id == bulk.job_id
    assert abs(other.run_at - one.run_at) < datetime.timedelta(seconds=5)
    assert other.created_at == other.updated_at == other.run_at
    assert stable_payload(other) == stable_payload(one)


def stable_payload(row):
    """Return the row's payload without the fields that differ between two enqueues."""
    payload = json.loads(row.handler)
    for name in ("job_id", "enqueued_at"):
        payload.pop(name)
    return payload


@pytest.mark.django_db(transaction=True)
def test_bulk_scheduled_job_keeps_run_at():
    later = RecordJob("later").set(wait=3600)

    perform_all_later([RecordJob("now"), later])

    row = DelayedJob.objects.get(pk=later.provider_job_id)
    assert row.run_at > timezone.now() + datetime.timedelta(seconds=3500)


@pytest.mark.django_db(transaction=True)
def test_bulk_enqueue_rolls_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        perform_all_later([RecordJob(f"rolled back {number}") for number in range(5)])
        raise RuntimeError("abort")

    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_bulk_provider_ids_ordered():
    jobs = [RecordJob(f"ordered {number}") for number in range(300)]

    perform_all_later(jobs)

    stored = dict(DelayedJob.objects.values_list("pk", "job_id"))
    assert [stored[job.provider_job_id] for job in jobs] == [job.job_id for job in jobs]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="NOTIFY is PostgreSQL's")
def test_bulk_enqueue_sends_one_notify():
    import psycopg

    connection.ensure_connection()
    listener = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        listener.execute("LISTEN django_activejob")
        perform_all_later([RecordJob(f"notified {number}") for number in range(50)])

        deadline = time.monotonic() + 5
        payloads = []
        while not payloads and time.monotonic() < deadline:
            payloads = [notification.payload for notification in listener.notifies(timeout=0.5, stop_after=5)]
    finally:
        listener.close()

    assert payloads == ["default"]


# Locale and time zone switches skipped when they are active already.


class SwitchingJob(Job):
    """Activate another language and time zone inside perform, and record what it ran under."""

    seen = []

    def perform(self):
        SwitchingJob.seen.append((translation.get_language(), timezone.get_current_timezone_name()))
        translation.activate("fr")
        timezone.activate(zoneinfo.ZoneInfo("Asia/Tokyo"))


@pytest.mark.parametrize(("job_locale", "job_zone"), [("en", "UTC"), ("de", "America/New_York")],
                         ids=["same-as-active", "different"])
def test_job_switches_do_not_leak(job_locale, job_zone):
    SwitchingJob.seen = []
    job = SwitchingJob()
    job.locale, job.timezone = job_locale, job_zone

    with translation.override("en"), timezone.override(zoneinfo.ZoneInfo("UTC")):
        job.perform_now()

        assert (translation.get_language(), timezone.get_current_timezone_name()) == ("en", "UTC")
    assert SwitchingJob.seen == [(job_locale, job_zone)]
