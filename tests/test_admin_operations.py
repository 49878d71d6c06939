"""The DelayedJob admin: filters, search, detail page, actions, permissions, pausing and stats."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_activejob.models import DelayedJob, PausedQueue, QueueStat
from django_activejob.pausing import pause_queue, resume_queue
from django_activejob.worker import Worker, WorkerOptions
from tests.testapp.jobs import FailJob, NoopJob, RecordJob
from tests.testapp.models import Performance

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_activejob_delayedjob_changelist"


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.test", "password"))
    return client


@pytest.fixture
def viewer_client():
    user = User.objects.create_user("viewer", "viewer@example.test", "password", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_delayedjob"))
    client = Client()
    client.force_login(user)
    return client


def row(job) -> DelayedJob:
    return DelayedJob.objects.get(pk=job.provider_job_id)


def make_failed(job, error="RuntimeError: boom\nTraceback (most recent call last):\n  File ...") -> None:
    DelayedJob.objects.filter(pk=job.provider_job_id).update(
        failed_at=timezone.now(), attempts=25, last_error=error
    )


def make_running(job, by="worker-1") -> None:
    DelayedJob.objects.filter(pk=job.provider_job_id).update(locked_at=timezone.now(), locked_by=by)


def labels(response) -> str:
    return response.content.decode()


def act(client, action, jobs, **extra):
    data = {"action": action, "_selected_action": [job.provider_job_id for job in jobs], **extra}
    return client.post(reverse(CHANGELIST), data, follow=True)


# Filters and search.


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("state=failed", ["failed-one"], ["ready-one", "mail-one"]),
        ("failed=no", ["ready-one", "mail-one"], ["failed-one"]),
        ("queue__exact=mail", ["mail-one"], ["ready-one"]),
        ("priority_range=high", ["mail-one"], ["ready-one"]),
        ("priority_range=negative", [], ["ready-one", "mail-one"]),
        ("q=mail-one", ["mail-one"], ["ready-one"]),
        ("q=boom", ["failed-one"], ["ready-one"]),
        ("q=FailJob", ["failed-one"], ["ready-one"]),
    ],
)
def test_filters_and_search(staff_client, query, shown, hidden):
    RecordJob.perform_later("ready-one")
    RecordJob.set(queue="mail", priority=20).perform_later("mail-one")
    make_failed(FailJob.perform_later("failed-one"))

    content = labels(staff_client.get(reverse(CHANGELIST) + "?" + query))

    for name in shown:
        assert str(DelayedJob.objects.get(handler__contains=f'"{name}"').pk) in content
    for name in hidden:
        assert f'value="{DelayedJob.objects.get(handler__contains=f"{name}").pk}"' not in content


def test_search_by_job_id_matches_exactly(staff_client):
    target = RecordJob.perform_later("target")
    other = RecordJob.perform_later("other")

    content = labels(staff_client.get(reverse(CHANGELIST) + f"?q={target.job_id}"))

    assert f'value="{target.provider_job_id}"' in content
    assert f'value="{other.provider_job_id}"' not in content


def test_job_class_filter_and_sorting(staff_client):
    RecordJob.perform_later("a")
    NoopJob.perform_later()

    content = labels(staff_client.get(reverse(CHANGELIST) + "?job_class=tests.testapp.jobs.NoopJob&o=-7"))

    assert "tests.testapp.jobs.NoopJob" in content
    assert f'value="{DelayedJob.objects.get(job_class__endswith="RecordJob").pk}"' not in content


def test_change_list_does_not_query_per_row(staff_client, django_assert_max_num_queries):
    RecordJob.perform_later("first")
    with django_assert_max_num_queries(12) as few:
        staff_client.get(reverse(CHANGELIST))
    for number in range(40):
        RecordJob.perform_later(f"ready {number}")
    for number in range(40):
        make_failed(RecordJob.perform_later(f"failed {number}"), error="RuntimeError: x\n" + "y" * 10_000)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = staff_client.get(reverse(CHANGELIST))

    assert "RuntimeError: x" in labels(response)
    assert "y" * 600 not in labels(response)


def test_change_list_offers_no_facet_counts(staff_client):
    RecordJob.perform_later("one")

    response = staff_client.get(reverse(CHANGELIST) + "?_facets=True")

    assert response.status_code == 200
    assert "Show counts" not in labels(response)


# The detail page.


def test_detail_page_shows_arguments_traceback_and_history(staff_client):
    job = FailJob.perform_later("smtp down")
    make_failed(job)

    content = labels(staff_client.get(reverse("admin:django_activejob_delayedjob_change",
                                              args=[job.provider_job_id])))

    assert "&quot;smtp down&quot;" in content
    assert "Traceback (most recent call last)" in content
    assert 'name="queue"' in content
    assert 'name="priority"' in content
    assert 'name="run_at_0"' in content
    assert 'name="handler"' not in content
    assert 'name="attempts"' not in content


def test_detail_page_saves_only_scheduling_fields(staff_client):
    job = RecordJob.perform_later("moved")
    url = reverse("admin:django_activejob_delayedjob_change", args=[job.provider_job_id])
    later = timezone.localtime() + datetime.timedelta(hours=2)

    response = staff_client.post(url, {
        "queue": "reports", "priority": "5",
        "run_at_0": later.strftime("%Y-%m-%d"), "run_at_1": later.strftime("%H:%M:%S"),
        "handler": "{}", "attempts": "9",
    })

    assert response.status_code == 302
    saved = row(job)
    assert (saved.queue, saved.priority, saved.attempts) == ("reports", 5, 0)
    assert '"moved"' in saved.handler


# Actions.


def test_retry_now_skips_running(staff_client):
    failed = FailJob.perform_later("failed")
    make_failed(failed)
    running = RecordJob.perform_later("running")
    make_running(running)

    response = act(staff_client, "retry_now", [failed, running])

    retried = row(failed)
    assert (retried.failed_at, retried.attempts, retried.locked_by) == (None, 0, None)
    assert retried.run_at <= timezone.now()
    assert row(running).locked_by == "worker-1"
    content = labels(response)
    assert "1 job will run now." in content
    assert "1 job was skipped because a worker is running it." in content


def test_run_at_asks_for_a_time_then_schedules(staff_client):
    job = RecordJob.perform_later("later")

    form = act(staff_client, "run_at", [job])
    assert "Choose when the selected job should run" in labels(form)

    when = timezone.localtime() + datetime.timedelta(days=1)
    response = act(staff_client, "run_at", [job], apply="1",
                   run_at_0=when.strftime("%Y-%m-%d"), run_at_1=when.strftime("%H:%M:%S"))

    assert abs((row(job).run_at - when).total_seconds()) < 1
    assert "1 job will run at" in labels(response)


def test_run_at_invalid_time(staff_client):
    job = RecordJob.perform_later("later")
    before = row(job).run_at

    response = act(staff_client, "run_at", [job], apply="1", run_at_0="tomorrow", run_at_1="noon")

    assert "Enter a valid date" in labels(response)
    assert row(job).run_at == before


def test_perform_now_runs_the_job_in_the_request(staff_client):
    job = RecordJob.perform_later("performed from the admin")
    running = RecordJob.perform_later("held")
    make_running(running)

    response = act(staff_client, "perform_now", [job, running])

    assert Performance.objects.filter(label="performed from the admin").exists()
    assert not DelayedJob.objects.filter(pk=job.provider_job_id).exists()
    assert not Performance.objects.filter(label="held").exists()
    assert "1 job performed." in labels(response)
    assert "1 job was skipped" in labels(response)


def test_perform_now_records_a_failure_like_a_worker(staff_client):
    job = FailJob.perform_later("still broken")

    response = act(staff_client, "perform_now", [job])

    failed = row(job)
    assert failed.attempts == 1
    assert failed.locked_by is None
    assert failed.last_error.startswith("RuntimeError: still broken")
    assert "1 job failed; see its last error." in labels(response)


def test_discard_deletes_all_but_running_jobs(staff_client):
    running_job = RecordJob.perform_later("running")
    make_running(running_job)
    queued_job = RecordJob.perform_later("queued")

    response = act(staff_client, "delete_selected", [running_job, queued_job], post="yes")

    assert not DelayedJob.objects.filter(pk=queued_job.provider_job_id).exists()
    assert DelayedJob.objects.filter(pk=running_job.provider_job_id).exists()
    assert "1 job was skipped because a worker is running it." in labels(response)


def test_viewer_gets_no_actions(viewer_client):
    job = FailJob.perform_later("failed")
    make_failed(job)

    content = labels(viewer_client.get(reverse(CHANGELIST)))
    assert 'name="action"' not in content

    response = act(viewer_client, "retry_now", [job])
    assert row(job).failed_at is not None
    assert response.status_code in (200, 403)
    change = viewer_client.get(reverse("admin:django_activejob_delayedjob_change", args=[job.provider_job_id]))
    assert 'name="queue"' not in labels(change)


def test_actions_need_the_csrf_token(staff_client):
    job = FailJob.perform_later("failed")
    make_failed(job)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="admin"))

    response = strict.post(reverse(CHANGELIST), {"action": "retry_now", "_selected_action": [job.provider_job_id]})

    assert response.status_code == 403
    assert row(job).failed_at is not None


# Pausing and statistics.


@pytest.mark.django_db(transaction=True)
def test_workers_skip_paused_queues_until_resumed():
    paused = RecordJob.set(queue="reports").perform_later("paused")
    other = RecordJob.perform_later("other")
    assert pause_queue("reports", paused_by="admin")
    assert not pause_queue("reports")

    Worker(WorkerOptions(identifier="pauser")).work_off()
    assert not DelayedJob.objects.filter(pk=other.provider_job_id).exists()
    assert DelayedJob.objects.filter(pk=paused.provider_job_id).exists()

    assert resume_queue("reports", resumed_by="admin")
    assert not resume_queue("reports")
    Worker(WorkerOptions(identifier="pauser")).work_off()
    assert not DelayedJob.objects.exists()
    assert not PausedQueue.objects.exists()


def test_pause_rejects_an_invalid_queue_name():
    with pytest.raises(ValueError, match="Queue name ' x' is invalid"):
        pause_queue(" x")


@pytest.mark.django_db(transaction=True)
def test_workers_count_executions_per_queue_and_minute():
    RecordJob.perform_later("one")
    RecordJob.set(queue="mail").perform_later("two")
    FailJob.set(queue="mail").perform_later("three")

    Worker(WorkerOptions(identifier="counter")).work_off()

    stats = {stat.queue: (stat.performed, stat.failed) for stat in QueueStat.objects.all()}
    assert stats == {"default": (1, 0), "mail": (1, 1)}
    assert all(stat.minute.second == 0 for stat in QueueStat.objects.all())


@pytest.mark.django_db(transaction=True)
def test_bulk_retry_deleted_record(client):
    """Case C09 (d): one of three failed jobs points at a deleted invoice."""
    from tests.testapp.lifecycle_jobs import InvoiceMailJob
    from tests.testapp.models import Invoice

    client.force_login(User.objects.create_superuser("ops", "ops@example.test", "password"))
    invoices = [Invoice.objects.create(number=f"INV-{number}") for number in range(3)]
    jobs = [InvoiceMailJob.perform_later(invoice) for invoice in invoices]
    for job in jobs:
        make_failed(job)
    invoices[2].delete()

    response = act(client, "retry_now", jobs)

    assert response.status_code == 200
    assert "3 jobs will run now." in labels(response)
    for job in jobs:
        retried = row(job)
        assert (retried.failed_at, retried.attempts) == (None, 0)
    Worker(WorkerOptions(identifier="after-retry")).work_off()
    assert sorted(Performance.objects.values_list("value", flat=True)) == ["INV-0", "INV-1"]
    assert not DelayedJob.objects.exists()
