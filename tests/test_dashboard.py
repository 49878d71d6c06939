"""The queue dashboard: its figures, chart, permissions, pause and resume, and query count.

Most tests call the views directly with RequestFactory. The client tests at
the end go through the admin's URLs, so admin_view, CSRF and messages take
part as they do for users.
"""

from __future__ import annotations

import datetime
import re
import uuid
import xml.etree.ElementTree as ET

import pytest
from django.contrib import admin, messages
from django.contrib.auth.models import Permission, User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_activejob.dashboard import (
    CHART_MINUTES,
    Bucket,
    Throughput,
    chart_scale,
    dashboard_view,
    format_age,
    last_hour_start,
    live_workers,
    minute_of,
    queue_pause_view,
    queue_summaries,
    throughput,
    throughput_svg,
)
from django_activejob.models import DelayedJob, PausedQueue, QueueStat, WorkerProcess
from django_activejob.pausing import pause_queue
from tests.browser import AdminBrowser, missing_browser, start_chromium

SVG = "{http://www.w3.org/2000/svg}"


def dashboard_path() -> str:
    return reverse("admin:django_activejob_dashboard")


def pause_path() -> str:
    return reverse("admin:django_activejob_dashboard_pause")


def add_job(queue: str = "default", *, run_at: datetime.datetime | None = None, locked_by: str | None = None,
            failed: bool = False, job_class: str = "tests.testapp.jobs.NoopJob") -> DelayedJob:
    now = timezone.now()
    return DelayedJob.objects.create(
        queue=queue, handler="{}", job_id=uuid.uuid4(), job_class=job_class,
        run_at=run_at or now - datetime.timedelta(seconds=1),
        locked_at=now if locked_by else None, locked_by=locked_by,
        failed_at=now if failed else None,
    )


def staff_user(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    # A fresh instance, so has_perm doesn't read a permission cache from before set().
    return User.objects.get(pk=user.pk)


@pytest.fixture
def viewer() -> User:
    return staff_user("viewer", "view_delayedjob")


@pytest.fixture
def operator() -> User:
    return staff_user("operator", "view_delayedjob", "change_delayedjob")


def call(view, rf, user: User, method: str = "get", data: dict | None = None, path: str | None = None):
    request = getattr(rf, method)(path or dashboard_path(), data or {})
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    response = view(request, admin_site=admin.site)
    response.request_messages = [(message.level, str(message)) for message in request._messages]
    return response


def chart_of(content: str) -> ET.Element:
    match = re.search(r"<svg xmlns=.*?</svg>", content, re.DOTALL)
    assert match, "the page has no chart"
    return ET.fromstring(match.group(0))


# The figures.


@pytest.mark.django_db
def test_counts_by_state():
    now = timezone.now()
    add_job("mail", run_at=now + datetime.timedelta(hours=1))
    add_job("mail", run_at=now + datetime.timedelta(minutes=5))
    for _ in range(3):
        add_job("mail")
    add_job("mail", locked_by="worker-1")
    add_job("mail", failed=True)
    add_job("reports")

    queues = {queue.name: queue for queue in queue_summaries(timezone.now(), "default")}

    assert sorted(queues) == ["mail", "reports"]
    mail = queues["mail"]
    assert (mail.scheduled, mail.ready, mail.running, mail.failed) == (2, 3, 1, 1)
    reports = queues["reports"]
    assert (reports.scheduled, reports.ready, reports.running, reports.failed) == (0, 1, 0, 0)


@pytest.mark.django_db
def test_counts_match_state_filters():
    now = timezone.now()
    add_job("mail", run_at=now + datetime.timedelta(hours=1))
    add_job("mail", locked_by="worker-1", run_at=now + datetime.timedelta(hours=1))
    add_job("mail", failed=True, locked_by="worker-1")
    add_job("mail")
    later = timezone.now()

    mail = queue_summaries(later, "default")[0]

    for state in ("scheduled", "ready", "running", "failed"):
        assert getattr(mail, state) == DelayedJob.objects.in_state(state, later).count(), state


@pytest.mark.django_db
def test_oldest_ready_age():
    now = timezone.now()
    add_job("mail", run_at=now - datetime.timedelta(seconds=300))
    add_job("mail", run_at=now - datetime.timedelta(seconds=30))
    add_job("mail", run_at=now + datetime.timedelta(hours=1))
    # Older run_at values, but failed or running rows don't wait for a worker.
    add_job("mail", run_at=now - datetime.timedelta(days=2), failed=True)
    add_job("mail", run_at=now - datetime.timedelta(days=1), locked_by="worker-1")
    add_job("idle", run_at=now + datetime.timedelta(hours=1))

    queues = {queue.name: queue for queue in queue_summaries(now, "default")}

    assert queues["mail"].latency == datetime.timedelta(seconds=300)
    assert queues["mail"].latency_display == "5\xa0minutes"
    assert queues["idle"].latency is None
    assert queues["idle"].latency_display == ""


@pytest.mark.django_db
def test_empty_queue_name_counts_as_default():
    now = timezone.now()
    add_job("default", run_at=now - datetime.timedelta(seconds=10))
    add_job("", run_at=now - datetime.timedelta(seconds=90))

    queues = queue_summaries(now, "default")

    assert [queue.name for queue in queues] == ["default"]
    assert queues[0].ready == 2
    assert queues[0].latency == datetime.timedelta(seconds=90)


@pytest.mark.django_db
def test_last_hour_executions():
    now = timezone.now()
    current = minute_of(now)
    QueueStat.objects.create(queue="mail", minute=current, performed=3, failed=1)
    QueueStat.objects.create(queue="mail", minute=current - datetime.timedelta(minutes=59), performed=2)
    QueueStat.objects.create(queue="reports", minute=current - datetime.timedelta(minutes=10), failed=4)
    # Outside the hour: before its first minute, a day ago, and a future minute
    # written by a worker whose clock runs ahead.
    QueueStat.objects.create(queue="mail", minute=current - datetime.timedelta(minutes=60), performed=100)
    QueueStat.objects.create(queue="mail", minute=current - datetime.timedelta(days=1), performed=1000)
    QueueStat.objects.create(queue="mail", minute=current + datetime.timedelta(minutes=2), performed=10000)
    QueueStat.objects.create(queue="gone", minute=current - datetime.timedelta(hours=2), performed=7)

    queues = {queue.name: queue for queue in queue_summaries(now, "default")}

    assert sorted(queues) == ["mail", "reports"]
    assert (queues["mail"].performed_last_hour, queues["mail"].failed_last_hour) == (5, 1)
    assert (queues["reports"].performed_last_hour, queues["reports"].failed_last_hour) == (0, 4)


@pytest.mark.django_db
def test_paused_queue_without_jobs_listed():
    pause_queue("idle", paused_by="alice")
    add_job("mail")
    PausedQueue.objects.update(paused_at=timezone.now() - datetime.timedelta(minutes=90))

    queues = {queue.name: queue for queue in queue_summaries(timezone.now(), "default")}

    assert sorted(queues) == ["idle", "mail"]
    assert queues["idle"].paused is not None
    assert queues["idle"].paused.paused_by == "alice"
    assert queues["idle"].paused_age_display == "1\xa0hour, 30\xa0minutes"
    assert queues["mail"].paused is None


@pytest.mark.django_db
def test_live_workers_with_running_job():
    now = timezone.now()
    WorkerProcess.objects.create(
        identifier="host-a:101", hostname="host-a", pid=101, queues="mail,reports",
        started_at=now, heartbeat_at=now - datetime.timedelta(seconds=12),
    )
    WorkerProcess.objects.create(
        identifier="host-a:102", hostname="host-a", pid=102, queues="*",
        started_at=now, heartbeat_at=now,
    )
    WorkerProcess.objects.create(
        identifier="host-b:103", hostname="host-b", pid=103, queues="*",
        started_at=now, heartbeat_at=now - datetime.timedelta(hours=2),
    )
    add_job("mail", locked_by="host-a:101", job_class="tests.testapp.jobs.SendReport")
    add_job("mail", locked_by="host-b:103", job_class="tests.testapp.jobs.Lost")

    workers = {worker.identifier: worker for worker in live_workers(now, "default")}

    assert sorted(workers) == ["host-a:101", "host-a:102"]
    busy = workers["host-a:101"]
    assert busy.running_job_class == "tests.testapp.jobs.SendReport"
    assert busy.queues == "mail, reports"
    assert busy.heartbeat_age == datetime.timedelta(seconds=12)
    assert busy.heartbeat_age_display == "12 seconds"
    idle = workers["host-a:102"]
    assert idle.running_job_class is None
    assert idle.queues == "all queues"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0 seconds"), (1, "1 second"), (42, "42 seconds"), (180, "3\xa0minutes"),
     (2 * 3600 + 5 * 60 + 9, "2\xa0hours, 5\xa0minutes")],
)
def test_format_age(seconds, expected):
    assert format_age(datetime.timedelta(seconds=seconds)) == expected


@pytest.mark.parametrize(
    ("largest", "expected"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (101, 200)]
)
def test_chart_scale(largest, expected):
    assert chart_scale(largest) == expected


# The chart.


@pytest.mark.django_db
def test_throughput_buckets():
    now = timezone.now()
    current = minute_of(now)
    QueueStat.objects.create(queue="mail", minute=current, performed=3, failed=1)
    QueueStat.objects.create(queue="reports", minute=current, performed=2)
    QueueStat.objects.create(queue="mail", minute=current - datetime.timedelta(minutes=59), failed=5)
    QueueStat.objects.create(queue="mail", minute=current - datetime.timedelta(minutes=60), performed=100)

    data = throughput(now, "default")

    assert len(data.buckets) == CHART_MINUTES
    assert data.buckets[0].minute == last_hour_start(now)
    assert data.buckets[-1].minute == current
    assert (data.buckets[-1].performed, data.buckets[-1].failed) == (5, 1)
    assert (data.buckets[0].performed, data.buckets[0].failed) == (0, 5)
    assert (data.performed, data.failed) == (5, 6)


def test_chart_is_well_formed_svg():
    start = minute_of(timezone.now()) - datetime.timedelta(minutes=CHART_MINUTES - 1)
    buckets = [Bucket(start + datetime.timedelta(minutes=index)) for index in range(CHART_MINUTES)]
    buckets[10].performed, buckets[10].failed = 40, 2
    buckets[-1].performed = 7

    svg = ET.fromstring(str(throughput_svg(Throughput(buckets))))

    assert svg.tag == f"{SVG}svg"
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Executions per minute, last hour"
    assert "47 performed and 2 failed" in svg.find(f"{SVG}desc").text
    groups = svg.findall(f"{SVG}g[@class='activejob-bucket']")
    assert len(groups) == CHART_MINUTES
    assert (groups[10].get("data-performed"), groups[10].get("data-failed")) == ("40", "2")
    assert "40 performed, 2 failed" in groups[10].find(f"{SVG}title").text
    # The y axis goes up to 50, so 40 performed fill 4/5 of the plot and sit below the failed bar.
    performed, failed = groups[10].findall(f"{SVG}rect")
    plot_height = 220 - 28 - 12
    assert float(performed.get("height")) == pytest.approx(plot_height * 40 / 50, abs=0.1)
    assert float(failed.get("height")) == pytest.approx(plot_height * 2 / 50, abs=0.1)
    assert float(failed.get("y")) + float(failed.get("height")) == pytest.approx(float(performed.get("y")), abs=0.1)
    labels = [text.text for text in svg.iter(f"{SVG}text")]
    assert {"0", "25", "50"} <= set(labels)
    assert f"{timezone.localtime(buckets[-1].minute):%H:%M}" in labels


def test_chart_without_executions():
    start = minute_of(timezone.now())
    buckets = [Bucket(start + datetime.timedelta(minutes=index)) for index in range(CHART_MINUTES)]

    svg = ET.fromstring(str(throughput_svg(Throughput(buckets))))

    groups = svg.findall(f"{SVG}g[@class='activejob-bucket']")
    assert len(groups) == CHART_MINUTES
    assert all(float(rect.get("height")) == 0 for rect in svg.iter(f"{SVG}rect"))


# The page, called directly.


@pytest.mark.django_db
def test_page_shows_queues_chart_and_workers(rf, operator):
    now = timezone.now()
    add_job("mail", run_at=now - datetime.timedelta(minutes=3))
    add_job("mail", failed=True)
    QueueStat.objects.create(queue="mail", minute=minute_of(now) - datetime.timedelta(minutes=5), performed=6, failed=2)
    WorkerProcess.objects.create(
        identifier="host-a:101", hostname="host-a", pid=101, queues="*", started_at=now, heartbeat_at=now,
    )
    pause_queue("idle", paused_by="alice")

    response = call(dashboard_view, rf, operator)

    content = response.content.decode()
    assert response.status_code == 200
    assert "<title>Queue dashboard |" in content
    assert 'class="breadcrumbs"' in content
    assert 'id="activejob-dashboard"' in content
    assert "?fragment=1" in content
    assert '<tr class="row1" data-queue="idle"' not in content
    assert 'activejob-queue-paused" data-queue="idle"' in content
    assert 'class="activejob-badge activejob-badge-paused"' in content
    assert "by alice" in content
    assert '<th scope="row"><a href="/admin/django_activejob/delayedjob/?queue=mail">mail</a></th>' in content
    assert "3\xa0minutes" in content
    assert "Last hour, all queues: 6 performed, 2 failed." in content
    assert "host-a:101" in content
    groups = chart_of(content).findall(f"{SVG}g[@class='activejob-bucket']")
    assert len(groups) == CHART_MINUTES


@pytest.mark.django_db
def test_page_without_anything(rf, viewer):
    response = call(dashboard_view, rf, viewer)

    content = response.content.decode()
    assert response.status_code == 200
    assert "No queue has jobs" in content
    assert "No live workers" in content


@pytest.mark.django_db
def test_fragment_is_the_refreshed_part(rf, operator):
    add_job("mail")

    response = call(dashboard_view, rf, operator, data={"fragment": "1"})

    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert "<script" not in content
    assert 'id="activejob-dashboard"' not in content
    assert 'class="breadcrumbs"' not in content
    assert 'data-queue="mail"' in content
    assert 'name="csrfmiddlewaretoken"' in content
    assert len(chart_of(content).findall(f"{SVG}g[@class='activejob-bucket']")) == CHART_MINUTES


@pytest.mark.django_db
def test_queue_names_are_escaped(rf, operator):
    add_job("<b>bold</b>&co")

    content = call(dashboard_view, rf, operator).content.decode()

    assert "<b>bold</b>" not in content
    assert "&lt;b&gt;bold&lt;/b&gt;&amp;co" in content
    assert "?queue=%3Cb%3Ebold%3C/b%3E%26co" in content


@pytest.mark.django_db
def test_viewer_sees_no_pause_buttons(rf, viewer):
    add_job("mail")
    pause_queue("idle")

    content = call(dashboard_view, rf, viewer).content.decode()

    assert 'data-queue="mail"' in content
    assert 'class="activejob-badge activejob-badge-paused"' in content
    assert 'name="action"' not in content
    assert 'class="activejob-queue-action"' not in content
    assert 'id="activejob-pause-other"' not in content


@pytest.mark.django_db
def test_operator_sees_pause_and_resume(rf, operator):
    add_job("mail")
    pause_queue("idle")

    content = call(dashboard_view, rf, operator).content.decode()

    assert 'value="pause" aria-label="Pause queue mail"' in content
    assert 'value="resume" aria-label="Resume queue idle"' in content
    assert 'id="activejob-pause-other"' in content


@pytest.mark.django_db
def test_change_permission_implies_view(rf):
    user = staff_user("changer", "change_delayedjob")
    add_job("mail")

    response = call(dashboard_view, rf, user)

    assert response.status_code == 200
    assert 'value="pause" aria-label="Pause queue mail"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("view", [dashboard_view, queue_pause_view])
def test_staff_without_permission_gets_403(rf, view):
    user = staff_user("nobody", "view_workerprocess")

    with pytest.raises(PermissionDenied):
        call(view, rf, user, method="post" if view is queue_pause_view else "get",
             data={"queue": "mail", "action": "pause"})
    assert not PausedQueue.objects.exists()


@pytest.mark.django_db
def test_non_staff_user_gets_403(rf):
    user = staff_user("outsider", "view_delayedjob", "change_delayedjob")
    user.is_staff = False
    user.save()

    with pytest.raises(PermissionDenied):
        call(dashboard_view, rf, user)
    with pytest.raises(PermissionDenied):
        call(queue_pause_view, rf, user, method="post", data={"queue": "mail", "action": "pause"})


@pytest.mark.django_db
def test_viewer_cannot_pause(rf, viewer):
    with pytest.raises(PermissionDenied):
        call(queue_pause_view, rf, viewer, method="post", data={"queue": "mail", "action": "pause"})

    assert not PausedQueue.objects.exists()


@pytest.mark.django_db
def test_wrong_methods_get_405(rf, operator):
    assert call(queue_pause_view, rf, operator, path=pause_path()).status_code == 405
    assert call(dashboard_view, rf, operator, method="post").status_code == 405


@pytest.mark.django_db
def test_pause_then_resume(rf, operator, caplog):
    caplog.set_level("INFO", logger="django_activejob")

    response = call(queue_pause_view, rf, operator, method="post", path=pause_path(),
                    data={"queue": "mail", "action": "pause"})

    assert response.status_code == 302
    assert response.url == dashboard_path()
    paused = PausedQueue.objects.get()
    assert (paused.queue, paused.paused_by) == ("mail", "operator")
    assert response.request_messages == [(messages.SUCCESS, (
        "Paused queue “mail”. Workers finish the jobs they have started and take no more "
        "from this queue until it is resumed."
    ))]
    assert "Paused queue mail (by operator)" in caplog.text

    response = call(queue_pause_view, rf, operator, method="post", path=pause_path(),
                    data={"queue": "mail", "action": "resume"})

    assert response.status_code == 302
    assert not PausedQueue.objects.exists()
    assert response.request_messages == [(messages.SUCCESS, "Resumed queue “mail”. Workers take its jobs again.")]
    assert "Resumed queue mail (by operator)" in caplog.text


@pytest.mark.django_db
def test_pause_twice_and_resume_unpaused(rf, operator):
    pause_queue("mail", paused_by="alice")

    paused_again = call(queue_pause_view, rf, operator, method="post", path=pause_path(),
                        data={"queue": "mail", "action": "pause"})
    not_paused = call(queue_pause_view, rf, operator, method="post", path=pause_path(),
                      data={"queue": "reports", "action": "resume"})

    assert paused_again.request_messages == [(messages.INFO, "Queue “mail” was already paused.")]
    assert PausedQueue.objects.get().paused_by == "alice"
    assert not_paused.request_messages == [(messages.INFO, "Queue “reports” was not paused.")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"queue": "", "action": "pause"}, "This field is required."),
        ({"action": "pause"}, "This field is required."),
        ({"queue": " mail", "action": "pause"}, "Queue name “ mail” is invalid: remove the commas"),
        ({"queue": "mail,reports", "action": "pause"}, "Queue name “mail,reports” is invalid"),
        ({"queue": "mail,reports", "action": "resume"}, "Queue name “mail,reports” is invalid"),
        ({"queue": "q" * 256, "action": "pause"}, "at most 255 characters (it has 256)"),
        ({"queue": "mail\x00", "action": "pause"}, "Null characters are not allowed."),
        ({"queue": "mail", "action": "delete"}, "Select a valid choice. delete is not one of the available"),
        ({"queue": "mail"}, "This field is required."),
    ],
)
def test_invalid_pause_request(rf, operator, data, expected, caplog):
    response = call(queue_pause_view, rf, operator, method="post", path=pause_path(), data=data)

    assert response.status_code == 302
    assert response.url == dashboard_path()
    assert not PausedQueue.objects.exists()
    [(level, text)] = response.request_messages
    assert level == messages.ERROR
    assert text.startswith("Nothing was paused or resumed: ")
    assert expected in text
    [record] = [record for record in caplog.records if record.name == "django_activejob"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(
        f"Rejected the dashboard request of user operator to {data.get('action', '')} queue "
        f"{data.get('queue', '')!r:.200}: "
    )


@pytest.mark.django_db
def test_query_count_independent_of_queues(rf, django_assert_max_num_queries):
    now = timezone.now()

    def fill(queues: range) -> None:
        DelayedJob.objects.bulk_create([
            DelayedJob(
                queue=f"queue-{queue}", handler="{}", job_id=uuid.uuid4(), job_class="tests.testapp.jobs.NoopJob",
                run_at=now + datetime.timedelta(seconds=number - 25),
                locked_at=now if number % 10 == 0 else None, locked_by=f"worker-{queue}" if number % 10 == 0 else None,
                failed_at=now if number % 7 == 0 else None,
            )
            for queue in queues for number in range(50)
        ])
        QueueStat.objects.bulk_create([
            QueueStat(queue=f"queue-{queue}", minute=minute_of(now) - datetime.timedelta(minutes=minutes), performed=5)
            for queue in queues for minutes in range(0, 60, 6)
        ])
        WorkerProcess.objects.bulk_create([
            WorkerProcess(identifier=f"worker-{queue}", hostname="host", pid=1000 + queue, queues=f"queue-{queue}",
                          started_at=now, heartbeat_at=now)
            for queue in queues
        ])
        for queue in queues:
            if queue % 3 == 0:
                pause_queue(f"queue-{queue}")

    def queries_for_page() -> int:
        user = User.objects.get(username="operator")
        with CaptureQueriesContext(connection) as queries:
            response = call(dashboard_view, rf, user)
        assert response.status_code == 200
        return len(queries)

    staff_user("operator", "view_delayedjob", "change_delayedjob")
    fill(range(1))
    one_queue = queries_for_page()
    fill(range(1, 20))

    user = User.objects.get(username="operator")
    # Two for the user's permissions and five for the figures.
    with django_assert_max_num_queries(7):
        response = call(dashboard_view, rf, user)

    assert response.content.decode().count("data-queue=") == 20
    assert queries_for_page() == one_queue


# Through the admin's URLs.


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("admin", "admin@example.test", "password")


@pytest.mark.django_db
def test_anonymous_redirected_to_login(client):
    for url in (reverse("admin:django_activejob_dashboard"), reverse("admin:django_activejob_dashboard_pause")):
        response = client.get(url)

        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


@pytest.mark.django_db
def test_client_viewer_gets_403_on_pause(client, viewer):
    client.force_login(viewer)

    page = client.get(reverse("admin:django_activejob_dashboard"))
    response = client.post(reverse("admin:django_activejob_dashboard_pause"), {"queue": "mail", "action": "pause"})

    assert page.status_code == 200
    assert response.status_code == 403
    assert not PausedQueue.objects.exists()


@pytest.mark.django_db
def test_pause_without_csrf_token_rejected(superuser):
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)

    response = client.post(reverse("admin:django_activejob_dashboard_pause"), {"queue": "mail", "action": "pause"})

    assert response.status_code == 403
    assert not PausedQueue.objects.exists()


@pytest.mark.django_db
def test_pause_and_resume_through_the_page(superuser):
    add_job("mail")
    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    dashboard_url = reverse("admin:django_activejob_dashboard")
    pause_url = reverse("admin:django_activejob_dashboard_pause")

    # The token comes from the refreshed fragment, as it does after the script replaced the table.
    fragment = client.get(dashboard_url, {"fragment": "1"}).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', fragment).group(1)
    response = client.post(pause_url, {"queue": "mail", "action": "pause", "csrfmiddlewaretoken": token}, follow=True)

    content = response.content.decode()
    assert response.redirect_chain == [(dashboard_url, 302)]
    assert PausedQueue.objects.filter(queue="mail").exists()
    assert "Paused queue “mail”." in content
    assert 'activejob-queue-paused" data-queue="mail"' in content
    assert 'value="resume"' in content

    response = client.post(pause_url, {"queue": "mail", "action": "resume", "csrfmiddlewaretoken": token}, follow=True)

    content = response.content.decode()
    assert not PausedQueue.objects.exists()
    assert "Resumed queue “mail”." in content
    assert 'class="activejob-badge activejob-badge-paused"' not in content


@pytest.mark.django_db
def test_invalid_queue_through_the_page(admin_client):
    response = admin_client.post(
        reverse("admin:django_activejob_dashboard_pause"), {"queue": "a,b", "action": "pause"}, follow=True
    )

    assert response.status_code == 200
    assert "Queue name “a,b” is invalid" in response.content.decode()
    assert not PausedQueue.objects.exists()


@pytest.mark.django_db
def test_client_page_query_count(admin_client, django_assert_max_num_queries):
    now = timezone.now()
    DelayedJob.objects.bulk_create([
        DelayedJob(queue=f"queue-{queue}", handler="{}", job_id=uuid.uuid4(), job_class="tests.testapp.jobs.NoopJob",
                   run_at=now - datetime.timedelta(seconds=number))
        for queue in range(20) for number in range(50)
    ])

    # Two for the session and the user, five for the figures.
    with django_assert_max_num_queries(7):
        response = admin_client.get(reverse("admin:django_activejob_dashboard"))

    assert response.status_code == 200
    assert response.content.decode().count("data-queue=") == 20


# In chromium: the script's refresh.


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")
def test_browser_refreshes_without_reload(live_server):
    User.objects.create_superuser("admin", "admin@example.test", "password")
    add_job("mail")
    driver = start_chromium()
    try:
        browser = AdminBrowser(driver, live_server.url)
        browser.log_in("admin", "password", dashboard_path())
        browser.find('tr[data-queue="mail"]')
        # A full reload would drop this variable; the script's refresh keeps it.
        driver.execute_script("window.activejobLoadedOnce = true;")

        add_job("reports")

        browser.find('tr[data-queue="reports"]')
        assert driver.execute_script("return window.activejobLoadedOnce === true;")
        assert not browser.find("#activejob-dashboard-status").is_displayed()
        browser.screenshot("admin-dashboard.png")

        # The refreshed table's form carries a valid CSRF token.
        browser.find('tr[data-queue="reports"] button[value="pause"]').click()
        browser.wait_for_text(".messagelist", "Paused queue “reports”.")
        assert PausedQueue.objects.filter(queue="reports").exists()
        browser.find('tr.activejob-queue-paused[data-queue="reports"] button[value="resume"]')

        # With the session gone, the fragment request ends on the login page.
        # The table stays, and a note below it reports that the figures are out of date.
        Session.objects.all().delete()

        browser.wait_until(lambda driver: browser.find("#activejob-dashboard-status").is_displayed(),
                           "the note that the refresh failed")
        assert browser.find_all('tr[data-queue="mail"]')
    finally:
        driver.quit()
