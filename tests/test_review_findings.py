"""Regression tests for defects found in review: bad payload fields, sys.exit, lost workers, zones, limits."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_activejob.checks import check_settings
from django_activejob.models import DelayedJob
from django_activejob.worker import Worker, WorkerOptions
from django_activejob.worker.reserve import ReserveFilter, reserve
from tests.testapp.jobs import NoopJob, RecordJob
from tests.testapp.lifecycle_jobs import LocaleJob
from tests.testapp.models import AuditLog, Performance
from tests.testapp.review_jobs import ExitJob

pytestmark = pytest.mark.django_db(transaction=True)


def work_off(now=timezone.now, **options) -> Worker:
    options.setdefault("identifier", "review-worker")
    worker = Worker(WorkerOptions(**options), now=now)
    worker.work_off()
    return worker


def later() -> datetime.datetime:
    # A second ahead, so jobs enqueued just before are due.
    return timezone.now() + datetime.timedelta(seconds=1)


# The worker must survive any row.


def malformed_handler(**changes) -> str:
    job = RecordJob("malformed")
    job._apply_options()
    payload = job.serialize()
    payload.update(changes)
    return json.dumps(payload)


@pytest.mark.parametrize(
    "changes",
    [{"version": "1"}, {"version": None}, {"job_id": 123}, {"exception_executions": []}],
    ids=["version-str", "version-null", "job-id-int", "exception-executions-list"],
)
def test_malformed_payload_field_fails_row_only(changes):
    bad = DelayedJob.objects.create(
        handler=malformed_handler(**changes), job_class="tests.testapp.jobs.RecordJob",
        job_id="00000000-0000-0000-0000-000000000001",
        run_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    RecordJob.set(priority=1).perform_later("behind")

    work_off()

    bad.refresh_from_db()
    assert bad.failed_at is not None
    assert bad.locked_by is None
    assert Performance.objects.filter(label="behind").count() == 1


def test_job_calling_sys_exit_fails_row_only():
    ExitJob.perform_later()
    RecordJob.set(priority=1).perform_later("behind")

    try:
        work_off(later)
    except SystemExit:
        pytest.fail("SystemExit from ExitJob.perform stopped the worker")

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.locked_by is None
    assert Performance.objects.filter(label="behind").count() == 1


# A stale lock counts as an attempt.


def test_stale_lock_takeover_counts_attempt():
    RecordJob.perform_later("crashes its worker")
    start = timezone.now() + datetime.timedelta(seconds=1)
    take_over = [
        start,
        start + datetime.timedelta(seconds=76),
        start + datetime.timedelta(seconds=152),
    ]

    # Each worker reserves the row and dies before recording an outcome.
    for number, now in enumerate(take_over):
        rows = reserve(
            identifier=f"worker-{number}", using="default", limit=5, now=now,
            max_run_time=60.0, interrupt_grace=10.0, only=ReserveFilter(),
        )
        assert len(rows) == 1

    row = DelayedJob.objects.get()
    # Two takeovers of a lock whose worker died.
    assert row.attempts == 2


# Time zone at enqueue is active again at perform.


def test_fixed_offset_time_zone_restored_at_perform():
    zone = datetime.timezone(datetime.timedelta(hours=2))
    with timezone.override(zone):
        LocaleJob.perform_later()

    work_off(later)

    assert DelayedJob.objects.count() == 0
    performance = Performance.objects.get(label="locale")
    assert performance.value.endswith("UTC+02:00")


# Priorities must fit the priority column.


@pytest.mark.parametrize("priority", [2**31, -(2**31) - 1])
def test_out_of_range_priority_rejected_at_set(priority):
    with pytest.raises(ValueError) as raised:
        NoopJob.set(priority=priority)

    assert str(raised.value) == (
        f"Priority {priority} is invalid: pass an int from -2147483648 to 2147483647."
    )


# JobEmailBackend with fail_silently must not break the caller's transaction.


def test_fail_silently_keeps_caller_transaction_usable(monkeypatch):
    from django_activejob.adapters.database import DatabaseAdapter
    from django_activejob.mail import delivery
    from django_activejob.mail.backends import JobEmailBackend

    build_values = DatabaseAdapter._values

    def values_the_database_rejects(self, *args):
        # 2**63 fits no backend's priority column, so the INSERT itself fails.
        return (2**63, *build_values(self, *args)[1:])

    monkeypatch.setattr(DatabaseAdapter, "_values", values_the_database_rejects)
    job_backend = "django_activejob.mail.backends.JobEmailBackend"
    locmem = "django.core.mail.backends.locmem.EmailBackend"
    if delivery.uses_mailers():
        email = {"MAILERS": {"default": {"BACKEND": job_backend}, "outbox": {"BACKEND": locmem}}}
        activejob = {"QUEUE_ADAPTER": "database", "MAIL_DELIVERY_MAILER": "outbox"}
    else:
        email = {"EMAIL_BACKEND": job_backend}
        activejob = {"QUEUE_ADAPTER": "database", "MAIL_DELIVERY_BACKEND": locmem}

    with override_settings(ACTIVEJOB=activejob, **email), transaction.atomic():
        sent = JobEmailBackend(fail_silently=True).send_messages(
            [mail.EmailMessage("Alert", "body", None, ["ops@example.com"])]
        )
        AuditLog.objects.create(message="written after the dropped email")

    assert sent == 0
    assert AuditLog.objects.count() == 1
    assert DelayedJob.objects.count() == 0


# System checks must reject what the worker can't use.


def test_huge_sleep_delay_reported_by_check():
    with override_settings(ACTIVEJOB={"SLEEP_DELAY": 1e10}):
        errors = check_settings()

    assert [error.id for error in errors] == ["activejob.E003"]


def test_worker_abandons_job_that_kills_workers():
    RecordJob.perform_later("kills its worker")
    start = timezone.now() + datetime.timedelta(seconds=1)
    with override_settings(ACTIVEJOB={"MAX_ATTEMPTS": 2, "MAX_RUN_TIME": 60}):
        for number in range(2):
            reserve(
                identifier=f"dying-{number}", using="default", limit=5,
                now=start + datetime.timedelta(seconds=76 * number),
                max_run_time=60.0, interrupt_grace=10.0, only=ReserveFilter(),
            )
        later = start + datetime.timedelta(seconds=200)
        worker = Worker(WorkerOptions(identifier="survivor"), now=lambda: later)
        worker.work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 2
    assert row.failed_at == later
    assert row.locked_by is None
    assert row.last_error.startswith("django_activejob.worker.recovery.WorkerLostError: worker 'dying-1'")
    assert worker.failed == 1
    assert not Performance.objects.filter(label="kills its worker").exists()
