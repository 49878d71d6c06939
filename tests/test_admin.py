import datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from django_activejob.models import DelayedJob
from tests.testapp.jobs import FailJob, NoopJob


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("admin", "admin@example.test", "password")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_change_list_shows_state_and_error(staff_client):
    NoopJob.set(queue="mail", priority=3).perform_later()
    NoopJob.set(wait=3600).perform_later()
    failed = FailJob.perform_later()
    DelayedJob.objects.filter(pk=failed.provider_job_id).update(
        failed_at=timezone.now(), attempts=25, last_error="RuntimeError: boom\nTraceback ..."
    )

    response = staff_client.get(reverse("admin:django_activejob_delayedjob_changelist"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "tests.testapp.jobs.NoopJob" in content
    assert "activejob-state-ready" in content
    assert "activejob-state-scheduled" in content
    assert "activejob-state-failed" in content
    assert "RuntimeError: boom" in content
    assert "Traceback ..." not in content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [("state=failed", 1), ("state=ready", 1), ("state=scheduled", 1), ("state=running", 1), ("queue=mail", 1)],
)
def test_change_list_filters(staff_client, query, expected):
    NoopJob.set(queue="mail").perform_later()
    NoopJob.set(wait=3600).perform_later()
    running = NoopJob.perform_later()
    failed = FailJob.perform_later()
    DelayedJob.objects.filter(pk=running.provider_job_id).update(locked_at=timezone.now(), locked_by="w1")
    DelayedJob.objects.filter(pk=failed.provider_job_id).update(failed_at=timezone.now())
    url = reverse("admin:django_activejob_delayedjob_changelist") + "?" + query

    response = staff_client.get(url)

    assert response.status_code == 200
    assert response.context["cl"].result_count == expected


@pytest.mark.django_db
def test_detail_page_is_read_only_for_payload(staff_client):
    job = NoopJob.perform_later("argument")
    url = reverse("admin:django_activejob_delayedjob_change", args=[job.provider_job_id])

    response = staff_client.get(url)

    assert response.status_code == 200
    form_fields = response.context["adminform"].form.fields
    assert set(form_fields) == {"queue", "priority", "run_at"}
    assert "argument" in response.content.decode()

    later = timezone.now() + datetime.timedelta(hours=1)
    response = staff_client.post(url, {
        "queue": "other", "priority": "4",
        "run_at_0": later.strftime("%Y-%m-%d"), "run_at_1": later.strftime("%H:%M:%S"),
    })
    assert response.status_code == 302
    row = DelayedJob.objects.get()
    assert (row.queue, row.priority) == ("other", 4)


@pytest.mark.django_db
def test_no_add_permission(staff_client):
    response = staff_client.get(reverse("admin:django_activejob_delayedjob_add"))

    assert response.status_code == 403
