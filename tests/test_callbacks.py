"""Callbacks around enqueue and perform, and per-job options that come with them."""

import logging

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from django_activejob import Job, perform_all_later
from django_activejob.models import DelayedJob
from django_activejob.worker import Worker, WorkerOptions
from tests.testapp.jobs import NoopJob, RecordJob
from tests.testapp.lifecycle_jobs import (
    HaltedEnqueueJob,
    HaltedPerformJob,
    LocaleJob,
    PrioritizedJob,
    SecretJob,
    TracedChildJob,
    TracedJob,
    events,
)
from tests.testapp.models import Performance


@pytest.fixture(autouse=True)
def clear_events():
    events.clear()


@pytest.mark.django_db
def test_enqueue_callbacks_order():
    job = TracedJob.perform_later(1)

    assert events == [
        "before_enqueue parent [1]",
        "around_enqueue parent: start",
        "around_enqueue parent: end",
        "after_enqueue parent enqueued=True",
    ]
    assert job.successfully_enqueued


def test_perform_callbacks_nest_parent_outside():
    TracedChildJob.perform_now("x")

    assert events == [
        "before_perform parent",
        "before_perform child",
        "around_perform parent: start",
        "around_perform child: start",
        "perform ['x']",
        "around_perform child: end",
        "around_perform parent: end",
        "after_perform child",
        "after_perform parent",
    ]


@pytest.mark.django_db
def test_before_enqueue_abort_halts(caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")

    halted = HaltedEnqueueJob.perform_later(halt=True)
    enqueued = HaltedEnqueueJob.perform_later(halt=False)

    assert halted.successfully_enqueued is False
    assert halted.provider_job_id is None
    assert enqueued.successfully_enqueued is True
    assert DelayedJob.objects.count() == 1
    assert f"Failed enqueuing HaltedEnqueueJob (Job ID: {halted.job_id}): a before_enqueue" in caplog.text


def test_around_perform_without_call_halts(caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")

    result = HaltedPerformJob.perform_now()

    assert result is None
    assert events == ["around skips perform"]
    assert "Halted HaltedPerformJob" in caplog.text
    assert "Performed HaltedPerformJob" not in caplog.text


@pytest.mark.django_db(transaction=True)
def test_locale_and_zone_restored_at_perform():
    with translation.override("de"), timezone.override("Europe/Berlin"):
        LocaleJob.perform_later()

    Worker(WorkerOptions(identifier="locale")).work_off()

    assert Performance.objects.get(label="locale").value == "de Europe/Berlin"
    assert translation.get_language() != "de"


# Queue names and priorities


@pytest.mark.django_db
@override_settings(ACTIVEJOB={"QUEUE_NAME_PREFIX": "shop"})
def test_queue_name_prefix_applies_everywhere():
    default = NoopJob.perform_later()
    explicit = NoopJob.set(queue="mail").perform_later()

    assert default.queue_name == "shop_default"
    assert explicit.queue_name == "shop_mail"
    assert sorted(DelayedJob.objects.values_list("queue", flat=True)) == ["shop_default", "shop_mail"]


@pytest.mark.django_db
@override_settings(ACTIVEJOB={"QUEUE_NAME_PREFIX": "shop", "QUEUE_NAME_DELIMITER": "."})
def test_queue_name_delimiter_setting():
    assert NoopJob.perform_later().queue_name == "shop.default"


@pytest.mark.django_db
def test_queue_with_priority_callable():
    vip = PrioritizedJob.perform_later(vip=True)
    regular = PrioritizedJob.perform_later()
    explicit = PrioritizedJob.set(priority=3).perform_later(vip=True)

    assert (vip.priority, regular.priority, explicit.priority) == (-10, 10, 3)


# perform_all_later


@pytest.mark.django_db
def test_perform_all_later_one_insert(caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")
    jobs = [RecordJob(f"bulk {number}") for number in range(20)]
    jobs.append(NoopJob().set(wait=3600, queue="later", priority=4))

    with CaptureQueriesContext(connection) as queries:
        count = perform_all_later(jobs)

    inserts = [query for query in queries.captured_queries if query["sql"].startswith("INSERT")]
    assert count == 21
    if connection.vendor == "postgresql":
        # COPY bypasses execute(), so only the query that takes the ids shows.
        assert [query["sql"] for query in queries.captured_queries] == [
            "SELECT nextval(pg_get_serial_sequence('django_activejob_delayedjob', 'id')) "
            "FROM generate_series(1, 21)"
        ]
    else:
        assert len(inserts) == 1
    assert DelayedJob.objects.count() == 21
    assert all(job.successfully_enqueued for job in jobs)
    assert {job.provider_job_id for job in jobs} == set(DelayedJob.objects.values_list("pk", flat=True))
    scheduled = DelayedJob.objects.get(queue="later")
    assert scheduled.priority == 4
    assert scheduled.run_at > timezone.now()
    assert "Enqueued 21 job(s) to database (20 RecordJob, 1 NoopJob)" in caplog.text


@pytest.mark.django_db
def test_perform_all_later_skips_enqueue_callbacks():
    perform_all_later([TracedJob(1), TracedJob(2)])

    assert events == []
    assert DelayedJob.objects.count() == 2


def test_perform_all_later_rejects_non_jobs():
    with pytest.raises(TypeError) as raised:
        perform_all_later([NoopJob, "job"])

    assert "perform_all_later() takes Job instances, not " in str(raised.value)


# Logging


@pytest.mark.django_db
def test_log_arguments_off_per_job(caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")

    SecretJob.perform_later("s3cr3t-token")
    SecretJob.perform_now("s3cr3t-token")

    assert "s3cr3t-token" not in caplog.text
    assert "Enqueued SecretJob" in caplog.text


@pytest.mark.django_db
@override_settings(ACTIVEJOB={"LOG_ARGUMENTS": False})
def test_log_arguments_off_globally(caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")

    NoopJob.perform_later("password=hunter2")

    assert "hunter2" not in caplog.text


# Transactions


@pytest.mark.django_db(transaction=True)
def test_adapter_on_other_alias_enqueues_after_commit():
    from django.db import transaction

    from django_activejob.adapters import QueueAdapter, use_adapter

    received = []

    class ElsewhereAdapter(QueueAdapter):
        name = "elsewhere"

        def transaction_alias(self):
            return "jobs"

        def enqueue(self, job):
            received.append(job.job_id)

    with use_adapter(ElsewhereAdapter()):
        with transaction.atomic():
            job = NoopJob.perform_later()
            assert received == []
            assert job.successfully_enqueued is False
        assert received == [job.job_id]
        assert job.successfully_enqueued is True

        with pytest.raises(RuntimeError), transaction.atomic():
            NoopJob.perform_later()
            raise RuntimeError("roll back")
        assert len(received) == 1


@pytest.mark.django_db(transaction=True)
def test_enqueue_after_commit_opt_out_per_class():
    from django.db import transaction

    from django_activejob.adapters import QueueAdapter, use_adapter

    received = []

    class ImmediateJob(Job):
        enqueue_after_transaction_commit = False

        def perform(self):
            return None

    class RecordingAdapter(QueueAdapter):
        name = "recording"

        def enqueue(self, job):
            received.append(job.job_id)

    with use_adapter(RecordingAdapter()), transaction.atomic():
        ImmediateJob.perform_later()
        assert len(received) == 1
