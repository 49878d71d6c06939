import datetime
import logging
import uuid
import zoneinfo

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from django_activejob import EnqueueError, Job, SerializationError, UnsupportedFeatureError
from django_activejob.models import DelayedJob
from tests.testapp.jobs import (
    DynamicQueueJob,
    EchoJob,
    InlineEchoJob,
    MailQueueJob,
    NoopJob,
    PriorityJob,
    echoed,
)
from tests.testapp.models import AuditLog

UTC = datetime.UTC


@pytest.fixture(autouse=True)
def clear_echoed():
    echoed.clear()


@pytest.mark.django_db
def test_perform_later_stores_row():
    job = NoopJob.perform_later(1, name="x")

    row = DelayedJob.objects.get()
    assert isinstance(job.job_id, uuid.UUID)
    assert job.provider_job_id == row.pk
    assert job.successfully_enqueued is True
    assert job.queue_name == "default"
    assert job.priority == 0
    assert job.executions == 0
    assert job.enqueued_at is not None
    assert job.scheduled_at is None
    assert row.job_id == job.job_id
    assert row.job_class == "tests.testapp.jobs.NoopJob"
    assert row.queue == "default"
    assert row.priority == 0
    assert row.attempts == 0
    assert row.locked_by is None
    assert abs(row.run_at - job.enqueued_at) < datetime.timedelta(seconds=1)


@pytest.mark.django_db
def test_handler_is_ascii_json():
    NoopJob.perform_later("CEO 👨‍💼 ünïcödé")

    handler = DelayedJob.objects.get().handler
    assert handler.isascii()
    assert "\\ud83d" in handler


@pytest.mark.django_db
def test_set_applies_every_option():
    before = timezone.now()
    job = NoopJob.set(wait=60, queue="mail", priority=-3).perform_later()

    row = DelayedJob.objects.get()
    assert job.queue_name == row.queue == "mail"
    assert job.priority == row.priority == -3
    assert before + datetime.timedelta(seconds=60) <= row.run_at
    assert row.run_at <= timezone.now() + datetime.timedelta(seconds=60)
    assert job.scheduled_at == row.run_at


@pytest.mark.django_db
def test_set_wait_until_and_timedelta():
    moment = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)

    NoopJob.set(wait_until=moment).perform_later()
    NoopJob.set(wait=datetime.timedelta(hours=1)).perform_later()

    first, second = DelayedJob.objects.order_by("id")
    assert first.run_at == moment
    assert second.run_at > timezone.now() + datetime.timedelta(minutes=59)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"wait": "soon"}, TypeError, "wait='soon' is invalid: pass a timedelta or a number of seconds."),
        ({"wait": True}, TypeError, "wait=True is invalid"),
        ({"wait": -1}, ValueError, "wait=-1 is negative: pass zero or more."),
        ({"wait_until": "2030-01-01"}, TypeError, "wait_until='2030-01-01' is invalid: pass a datetime."),
        ({"wait": 1, "wait_until": datetime.datetime(2030, 1, 1, tzinfo=UTC)}, ValueError, "not both"),
        ({"queue": ""}, ValueError, "Queue name '' is invalid"),
        ({"queue": " mail"}, ValueError, "Queue name ' mail' is invalid"),
        ({"queue": "a,b"}, ValueError, "Queue name 'a,b' is invalid"),
        ({"queue": 5}, TypeError, "Queue name 5 is invalid: pass a str."),
        ({"queue": "q" * 256}, ValueError, "is 256 characters long; the maximum is 255."),
        ({"priority": "high"}, TypeError, "Priority 'high' is invalid: pass an int (lower runs first)."),
        ({"priority": 1.5}, TypeError, "Priority 1.5 is invalid"),
    ],
)
def test_set_rejects_bad_options(options, error, message):
    with pytest.raises(error) as raised:
        NoopJob.set(**options)

    assert message in str(raised.value)


@pytest.mark.django_db
def test_queue_as_callable_sees_arguments():
    urgent = DynamicQueueJob.perform_later(urgent=True)
    low = DynamicQueueJob.perform_later()

    assert urgent.queue_name == "urgent"
    assert low.queue_name == "low"
    assert sorted(DelayedJob.objects.values_list("queue", flat=True)) == ["low", "urgent"]


@pytest.mark.django_db
def test_class_queue_and_priority():
    MailQueueJob.perform_later("x")
    PriorityJob.perform_later()

    assert DelayedJob.objects.get(job_class__endswith="MailQueueJob").queue == "mail"
    assert DelayedJob.objects.get(job_class__endswith="PriorityJob").priority == 7


@pytest.mark.django_db
@override_settings(ACTIVEJOB={"DEFAULT_QUEUE_NAME": "main", "DEFAULT_PRIORITY": 10})
def test_defaults_come_from_settings():
    job = NoopJob.perform_later()

    assert (job.queue_name, job.priority) == ("main", 10)


@pytest.mark.django_db
def test_serialization_error_stores_nothing():
    with pytest.raises(SerializationError) as raised:
        NoopJob.perform_later(1, {2})

    assert str(raised.value).startswith(
        "Can't serialize positional argument 1: values of type builtins.set are not supported."
    )
    assert DelayedJob.objects.count() == 0


def test_perform_now_on_class_and_instance():
    assert PriorityJob.perform_now() == "done"

    job = EchoJob(1, b=2)
    result = job.perform_now()

    assert result == ((1,), {"b": 2})
    assert job.executions == 1
    assert job.priority == 0 or job.priority is None


def test_set_perform_now_uses_options():
    job_seen = []

    class QueueSeenJob(Job):
        def perform(self):
            job_seen.append((self.queue_name, self.priority))

    QueueSeenJob.set(queue="fast", priority=2).perform_now()

    assert job_seen == [("fast", 2)]


@pytest.mark.django_db
def test_inline_adapter_per_class(django_capture_on_commit_callbacks):
    # The test runs inside a transaction, so the inline job waits for its commit.
    with django_capture_on_commit_callbacks(execute=True):
        job = InlineEchoJob.perform_later(datetime.date(2026, 1, 2), key="v")

    assert DelayedJob.objects.count() == 0
    assert echoed == [((datetime.date(2026, 1, 2),), {"key": "v"})]
    assert job.successfully_enqueued


@pytest.mark.django_db
@override_settings(ACTIVEJOB={"QUEUE_ADAPTER": "inline"})
def test_inline_adapter_rejects_scheduling():
    with pytest.raises(UnsupportedFeatureError) as raised:
        NoopJob.set(wait=5).perform_later()

    assert "The inline adapter can't schedule NoopJob" in str(raised.value)


@pytest.mark.django_db
@override_settings(ACTIVEJOB={"DELAY_JOBS": False})
def test_delay_jobs_false_runs_inline(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        EchoJob.perform_later("now")

    assert DelayedJob.objects.count() == 0
    assert echoed == [(("now",), {})]


def test_main_module_job_rejected_by_database_adapter():
    main_job = type("ScriptJob", (Job,), {"__module__": "__main__", "perform": lambda self: None})

    with pytest.raises(EnqueueError) as raised:
        main_job.perform_later()

    assert str(raised.value) == (
        "Job class '__main__.ScriptJob' can't be enqueued to the database, because a worker "
        "process could not load it: its module '__main__' is not part of an app in "
        "INSTALLED_APPS. Move it to a module of an installed app, such as myapp/jobs.py."
    )


def test_job_outside_installed_apps_rejected():
    outside_job = type("ProjectJob", (Job,), {"__module__": "mysite.jobs", "perform": lambda self: None})

    with pytest.raises(EnqueueError) as raised:
        outside_job.perform_later()

    assert "its module 'mysite.jobs' is not part of an app in INSTALLED_APPS" in str(raised.value)


def test_local_class_rejected_by_database_adapter():
    class LocalJob(Job):
        def perform(self):
            return None

    with pytest.raises(EnqueueError) as raised:
        LocalJob.perform_later()

    assert "inside a function" in str(raised.value)


@pytest.mark.django_db
def test_unknown_adapter_is_clear():
    class BadAdapterJob(Job):
        queue_adapter = "redis"

        def perform(self):
            return None

    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as raised:
        BadAdapterJob.perform_later()

    assert "Queue adapter 'redis' is invalid" in str(raised.value)


# Transactions


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("adapter", ["database", "inline"])
def test_rollback_enqueues_nothing(adapter):
    with override_settings(ACTIVEJOB={"QUEUE_ADAPTER": adapter}):
        with pytest.raises(IntegrityError):
            with transaction.atomic():
                AuditLog.objects.create(message="signed up")
                EchoJob.perform_later("welcome")
                raise IntegrityError("simulated constraint failure")

    assert AuditLog.objects.count() == 0
    assert DelayedJob.objects.count() == 0
    assert echoed == []


@pytest.mark.django_db(transaction=True)
def test_inline_adapter_runs_after_commit():
    with override_settings(ACTIVEJOB={"QUEUE_ADAPTER": "inline"}):
        with transaction.atomic():
            EchoJob.perform_later("after commit")
            assert echoed == []

    assert echoed == [(("after commit",), {})]


# Time zones: wait and wait_until across daylight-saving changes


@pytest.mark.django_db
@override_settings(TIME_ZONE="Europe/Berlin")
def test_wait_counts_real_time_across_dst(monkeypatch):
    frozen = datetime.datetime(2026, 10, 25, 0, 50, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: frozen)

    NoopJob.set(wait=datetime.timedelta(minutes=30)).perform_later()

    assert DelayedJob.objects.get().run_at == datetime.datetime(2026, 10, 25, 1, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("naive", "problem"),
    [
        (datetime.datetime(2026, 10, 25, 2, 30), "is ambiguous"),
        (datetime.datetime(2026, 3, 29, 2, 30), "does not exist"),
    ],
)
def test_naive_wait_until_dst_rejected(naive, problem):
    with timezone.override("Europe/Berlin"), pytest.raises(ValueError) as raised:
        NoopJob.set(wait_until=naive)

    assert str(raised.value) == (
        f"wait_until={naive.isoformat()} {problem} in time zone Europe/Berlin, because of a "
        f"daylight-saving change. Pass an aware datetime or a wait= duration."
    )


@pytest.mark.django_db
def test_aware_wait_until_stored_in_utc():
    moment = datetime.datetime(2026, 3, 29, 1, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))

    NoopJob.set(wait_until=moment).perform_later()

    assert DelayedJob.objects.get().run_at == datetime.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_naive_wait_until_read_in_current_zone():
    with timezone.override("Europe/Berlin"):
        NoopJob.set(wait_until=datetime.datetime(2026, 7, 1, 12, 0)).perform_later()

    assert DelayedJob.objects.get().run_at == datetime.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


# Logging


@pytest.mark.django_db
def test_enqueue_and_perform_log_lines(caplog):
    caplog.set_level(logging.DEBUG, logger="django_activejob")

    job = NoopJob.perform_later(5)
    NoopJob.perform_now()

    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == (
        f"Enqueued NoopJob (Job ID: {job.job_id}) to database(default) with arguments: 5"
    )
    assert messages[1].startswith("Performing NoopJob (Job ID: ")
    assert messages[2].startswith("Performed NoopJob (Job ID: ")
    assert messages[2].endswith(" ms")
