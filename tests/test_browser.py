"""The admin in a real browser: headless chromium on Django's live server.

These tests log in through the login form and click through the job change
list, a job's detail page and the queue dashboard as a user would, while
real ``jobs_worker`` processes perform the jobs. They need Debian's chromium
and chromedriver (``apt-get install chromium chromium-driver``) and skip
without them.

With ``ACTIVEJOB_SCREENSHOTS=1`` they also save the screenshots that the docs
show, under docs/images/:

    ACTIVEJOB_SCREENSHOTS=1 python3 runtests.py tests/test_browser.py
"""

from __future__ import annotations

import datetime
import json
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import Permission, User
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.remote.webdriver import WebDriver

from demo_project.blog.jobs import SignUpConfirmationEmailJob
from demo_project.mailserver import free_port
from django_activejob.mail import deliver_later
from django_activejob.models import DelayedJob, JobState, PausedQueue, QueueStat, WorkerProcess
from tests.browser import AdminBrowser, missing_browser, start_chromium
from tests.conftest import WorkerProcess as WorkerSubprocess
from tests.testapp.jobs import RecordJob

pytestmark = [
    pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or ""),
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "correct-horse-battery-staple"
CHANGELIST = "admin:django_activejob_delayedjob_changelist"
DASHBOARD = "admin:django_activejob_dashboard"

#: Seconds to wait for a worker to exit. It only bounds the waiting: no test measures speed.
WORKER_TIMEOUT = 60.0

#: Seconds within which the dashboard's script shows new figures without a reload:
#: its refresh interval (5 s) and some margin.
AUTO_REFRESH_TIMEOUT = 12.0


# Fixtures: one chromium for the module, a clean window for each test.


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium: WebDriver, live_server, tmp_path) -> Iterator[AdminBrowser]:
    """A logged-out window on the live server; the last page it showed is kept in tmp_path."""
    # Each test logs in itself, so no session leaks from the test before.
    chromium.delete_all_cookies()
    yield AdminBrowser(chromium, live_server.url)
    chromium.save_screenshot(str(tmp_path / "last-page.png"))
    (tmp_path / "last-page.html").write_text(chromium.page_source)
    # The admin keeps the navigation sidebar's state in localStorage.
    chromium.execute_script("window.localStorage.clear();")


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("ada", "ada@example.test", PASSWORD)


@pytest.fixture
def viewer_user() -> User:
    """A staff user who may only view jobs."""
    user = User.objects.create_user("grace", "grace@example.test", PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_delayedjob"))
    return user


# Jobs that look like a real project's: sign-up emails, mail deliveries and reports.


@dataclass
class Seeded:
    """The jobs seed_jobs enqueued, by what happened to them."""

    failed_missing_user: DelayedJob
    failed_smtp: list[DelayedJob]
    ready: list[DelayedJob] = field(default_factory=list)
    scheduled: list[DelayedJob] = field(default_factory=list)

    @property
    def failed(self) -> list[DelayedJob]:
        return [self.failed_missing_user, *self.failed_smtp]


def row_of(job) -> DelayedJob:
    return DelayedJob.objects.get(pk=job.provider_job_id)


def run_worker(start_worker: Callable[..., WorkerSubprocess], *args: str, **environment: str) -> str:
    """Run ``jobs_worker --exit-on-complete`` until it exits 0, and return its output."""
    worker = start_worker("--exit-on-complete", "--sleep-delay", "0.05", *args, **environment)
    status = worker.wait(timeout=WORKER_TIMEOUT)
    output = worker.output()
    assert status == 0, f"jobs_worker exited with {status}:\n{output}"
    return output


def seed_jobs(start_worker: Callable[..., WorkerSubprocess], *, running: bool = False) -> Seeded:
    """Enqueue jobs in the queues default, mailers and reports, and let a worker fail some of them.

    The failures are real: a worker performs the jobs with max_attempts 1
    while the SMTP server is down and after a user was deleted, so the rows
    carry the tracebacks that a real project would see.
    """
    deleted = User.objects.create_user("mallory", "mallory@example.test", is_active=False)
    missing_user = SignUpConfirmationEmailJob.perform_later(deleted.pk)
    deleted.delete()
    waiting = User.objects.create_user("linus", "linus@example.test", is_active=False)
    smtp_down = [
        SignUpConfirmationEmailJob.perform_later(waiting.pk),
        deliver_later(EmailMessage("Your weekly digest", "Five new posts this week.", to=["ada@example.test"])),
    ]
    # Nothing listens on a free port, so the SMTP connection is refused.
    run_worker(start_worker, EMAIL_URL=f"smtp://127.0.0.1:{free_port()}",
               ACTIVEJOB_TEST_SETTINGS=json.dumps({"MAX_ATTEMPTS": 1}))

    seeded = Seeded(failed_missing_user=row_of(missing_user), failed_smtp=[row_of(job) for job in smtp_down])
    for name in ("barbara", "edsger", "margaret"):
        user = User.objects.create_user(name, f"{name}@example.test", is_active=False)
        seeded.ready.append(row_of(SignUpConfirmationEmailJob.perform_later(user.pk)))
    seeded.ready.append(row_of(deliver_later(
        EmailMessage("Welcome to Demo Blog", "Your account is active.", to=["barbara@example.test"]),
        priority=-5,
    )))
    seeded.ready.append(row_of(RecordJob.set(queue="reports", priority=10).perform_later("daily sign-ups")))
    seeded.scheduled.append(row_of(
        RecordJob.set(queue="reports", priority=10, wait=datetime.timedelta(hours=2)).perform_later("weekly report")
    ))
    if running:
        # A worker on another host has locked it, so the change list shows it as running.
        held = row_of(RecordJob.set(queue="reports").perform_later("monthly invoices"))
        DelayedJob.objects.filter(pk=held.pk).update(locked_at=held.created_at, locked_by="web-2:4817")
    return seeded


def pks(rows: list[DelayedJob]) -> set[str]:
    return {str(row.pk) for row in rows}


def shown_pks(browser: AdminBrowser) -> set[str]:
    """Return the primary keys of the change list's rows, from their checkboxes."""
    return {box.get_attribute("value") for box in browser.find_all("#result_list input.action-select")}


# Logging in.


def test_login_rejects_wrong_password(browser, admin_user):
    browser.open(f"/admin/login/?next={reverse(CHANGELIST)}")
    browser.find("#id_username").send_keys("ada")
    browser.find("#id_password").send_keys("not the password")
    browser.find("#login-form [type=submit]").click()

    note = browser.wait_for_text(".errornote", "correct username and password")
    assert "staff account" in note.text
    assert "/admin/login/" in browser.driver.current_url


def test_anonymous_user_gets_login_form(browser):
    browser.open(reverse(CHANGELIST))

    browser.find("#login-form")
    assert "/admin/login/" in browser.driver.current_url
    assert not browser.find_all("#result_list")


# The change list.


def test_change_list_filter_and_retry(browser, admin_user, start_worker):
    seeded = seed_jobs(start_worker, running=True)
    browser.log_in("ada", PASSWORD, reverse(CHANGELIST))
    browser.find("#result_list")
    assert shown_pks(browser) == {str(pk) for pk in DelayedJob.objects.values_list("pk", flat=True)}
    browser.hide_navigation()
    # Wide enough for every column, the last error included.
    browser.screenshot("admin-changelist.png", width=1920)

    browser.find_by_xpath(
        "//*[@id='changelist-filter']//details[@data-filter-title='state']//a[normalize-space()='failed']"
    ).click()
    browser.wait_until(lambda driver: "state=failed" in driver.current_url, "the state=failed filter")
    assert shown_pks(browser) == pks(seeded.failed)
    badges = browser.find_all("#result_list .activejob-state")
    assert [badge.get_attribute("class") for badge in badges] == ["activejob-state activejob-state-failed"] * 3
    assert browser.find("#changelist-filter details[data-filter-title='state'] li.selected").text == "failed"

    retried = seeded.failed_missing_user
    browser.find(f"#result_list input.action-select[value='{retried.pk}']").click()
    browser.choose_action("Retry the selected jobs now")

    browser.wait_for_text(".messagelist .success", "1 job will run now.")
    assert "state=failed" in browser.driver.current_url
    assert shown_pks(browser) == pks(seeded.failed_smtp)
    row = DelayedJob.objects.get(pk=retried.pk)
    assert row.failed_at is None
    assert row.attempts == 0
    assert row.state() == JobState.READY
    for other in seeded.failed_smtp:
        assert DelayedJob.objects.get(pk=other.pk).failed_at is not None, other


def test_action_without_selection_changes_nothing(browser, admin_user, start_worker):
    seeded = seed_jobs(start_worker)
    browser.log_in("ada", PASSWORD, reverse(CHANGELIST) + "?state=failed")

    browser.choose_action("Retry the selected jobs now")

    browser.wait_for_text(".messagelist .warning", "Items must be selected in order to perform actions on them")
    assert DelayedJob.objects.filter(failed_at__isnull=False).count() == len(seeded.failed)


# The detail page.


def test_detail_page_shows_arguments_and_traceback(browser, admin_user, start_worker):
    seeded = seed_jobs(start_worker)
    failed = seeded.failed_missing_user
    url = reverse("admin:django_activejob_delayedjob_change", args=[failed.pk])
    browser.log_in("ada", PASSWORD, url)

    arguments = browser.find(".field-arguments pre").text
    assert json.loads(arguments) == json.loads(failed.handler)
    assert '\n  "arguments": {\n    "args": [' in arguments
    trace = browser.find(".field-error_trace pre").text
    assert trace.startswith("django.contrib.auth.models.User.DoesNotExist: User matching query does not exist.")
    assert "Traceback (most recent call last):" in trace
    assert "demo_project/blog/jobs.py" in trace
    assert "failed" in browser.find(".field-state_badge .activejob-state").text
    assert browser.find_all("input[name=_save]")
    browser.hide_navigation()
    browser.screenshot("admin-job-detail.png", full_page=True)

    smtp_failure = seeded.failed_smtp[1]
    browser.open(reverse("admin:django_activejob_delayedjob_change", args=[smtp_failure.pk]))
    assert browser.wait_for_text(".field-error_trace pre", "ConnectionRefusedError")
    assert "Your weekly digest" in browser.find(".field-arguments pre").text


# Permissions.


def test_view_only_user_gets_no_actions(browser, viewer_user, start_worker):
    seeded = seed_jobs(start_worker)
    browser.log_in("grace", PASSWORD, reverse(CHANGELIST))

    browser.find("#result_list")
    assert not browser.find_all("select[name=action]")
    assert not browser.find_all("#result_list input.action-select")
    shown = {link.text for link in browser.find_all("#result_list th.field-id a")}
    assert shown == {str(row.pk) for row in DelayedJob.objects.all()}

    failed = seeded.failed_missing_user
    browser.open(reverse("admin:django_activejob_delayedjob_change", args=[failed.pk]))
    browser.wait_for_text(".field-error_trace", "Traceback (most recent call last):")
    assert not browser.find_all("input[name=_save]")
    assert not browser.find_all("input[name=_continue]")
    assert not browser.find_all("input[name=queue]")
    assert not browser.find_all("a.deletelink")
    assert "default" in browser.find(".field-queue .readonly").text


# The queue dashboard.


def dashboard_cell(browser: AdminBrowser, queue: str, column: str) -> str:
    """Return the text of one figure in the dashboard's queue table.

    ``column`` is a state (scheduled, ready, running, failed), whose cell
    links to the change list, or "performed" or "failed-last-hour".
    """
    row = f"#activejob-queues tr[data-queue='{queue}']"
    if column in JobState.values:
        return browser.text(f"{row} a[href$='state={column}']")
    index = {"performed": 7, "failed-last-hour": 8}[column]
    return browser.text(f"{row} td:nth-of-type({index})")


def dashboard_figures(browser: AdminBrowser, columns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    queues = browser.attributes("#activejob-queues tr[data-queue]", "data-queue")
    return {queue: tuple(dashboard_cell(browser, queue, column) for column in columns) for queue in queues}


COLUMNS = ("scheduled", "ready", "running", "failed", "performed", "failed-last-hour")


def seed_throughput_history() -> tuple[int, int]:
    """Write the counters that workers would have left over the last hour; return (performed, failed).

    The minutes start two minutes back, so they never meet the minute in
    which seed_jobs's worker counted its executions.
    """
    this_minute = timezone.now().replace(second=0, microsecond=0)
    stats = []
    for minutes_ago in range(2, 56):
        minute = this_minute - datetime.timedelta(minutes=minutes_ago)
        stats.append(QueueStat(queue="default", minute=minute, performed=12 + minutes_ago * 37 % 23))
        stats.append(QueueStat(queue="mailers", minute=minute, performed=2 + minutes_ago * 11 % 7,
                               failed=2 if minutes_ago % 9 == 0 else 0))
    QueueStat.objects.bulk_create(stats)
    return sum(stat.performed for stat in stats), sum(stat.failed for stat in stats)


def test_dashboard_counts_follow_worker(browser, admin_user, start_worker, smtp_server):
    seed_jobs(start_worker)
    browser.log_in("ada", PASSWORD, reverse(DASHBOARD))

    assert dashboard_figures(browser, COLUMNS) == {
        "default": ("0", "3", "0", "2", "0", "2"),
        "mailers": ("0", "1", "0", "1", "0", "1"),
        "reports": ("1", "1", "0", "0", "0", "0"),
    }
    assert "No live workers" in browser.text("#activejob-workers")
    # A full page load would drop this mark; the script's refresh keeps it.
    browser.driver.execute_script("window.activejobTestMark = 'not reloaded';")

    run_worker(start_worker, EMAIL_URL=smtp_server.url)
    assert len(smtp_server.messages) == 4
    assert not DelayedJob.objects.ready().exists()

    browser.wait_until(lambda driver: dashboard_cell(browser, "default", "ready") == "0",
                       "the dashboard's script to show no ready jobs in default", timeout=AUTO_REFRESH_TIMEOUT)
    assert browser.driver.execute_script("return window.activejobTestMark;") == "not reloaded"
    after = {
        "default": ("0", "0", "0", "2", "3", "2"),
        "mailers": ("0", "0", "0", "1", "1", "1"),
        "reports": ("1", "0", "0", "0", "1", "0"),
    }
    browser.wait_until(lambda driver: dashboard_figures(browser, COLUMNS) == after,
                       f"the dashboard's figures to become {after}", timeout=AUTO_REFRESH_TIMEOUT)
    assert browser.find("#activejob-dashboard-status").get_attribute("hidden") is not None

    browser.driver.refresh()
    browser.wait_until(lambda driver: driver.execute_script("return window.activejobTestMark;") is None,
                       "the page to reload")
    assert dashboard_figures(browser, COLUMNS) == after
    assert "5 performed, 3 failed" in browser.text("#activejob-throughput figcaption")
    performed = browser.attributes("#activejob-throughput g.activejob-bucket", "data-performed")
    assert sum(map(int, performed)) == 5
    assert sum(stat.performed for stat in QueueStat.objects.all()) == 5


def test_dashboard_pause_and_resume(browser, admin_user, start_worker):
    seed_jobs(start_worker)
    performed, failed = seed_throughput_history()
    # A worker that stays up shows in the live workers table.
    worker = start_worker("--queues", "reports", "--sleep-delay", "0.1")
    browser.wait_until(lambda driver: WorkerProcess.objects.exists(), "the worker to register its heartbeat row")
    identifier = WorkerProcess.objects.get().identifier
    browser.log_in("ada", PASSWORD, reverse(DASHBOARD))
    browser.wait_for_text("#activejob-workers tbody", identifier)
    assert "reports" in browser.text("#activejob-workers tbody")
    # seed_jobs's worker failed 3 jobs, and the worker above may have performed the ready report by now.
    bucket_failed = browser.attributes("#activejob-throughput g.activejob-bucket", "data-failed")
    assert len(bucket_failed) == 60
    assert sum(map(int, bucket_failed)) == failed + 3
    bucket_performed = browser.attributes("#activejob-throughput g.activejob-bucket", "data-performed")
    assert sum(map(int, bucket_performed)) in (performed, performed + 1)

    browser.click("#activejob-queues tr[data-queue='mailers'] button[value=pause]")

    browser.wait_for_text(".messagelist .success", "Paused queue “mailers”.")
    assert browser.text("#activejob-queues tr[data-queue='mailers'] .activejob-badge-paused") == "PAUSED"
    assert "by ada" in browser.text("#activejob-queues tr[data-queue='mailers']")
    assert not browser.find_all("#activejob-queues tr[data-queue='default'] .activejob-badge-paused")
    assert PausedQueue.objects.get().queue == "mailers"
    assert PausedQueue.objects.get().paused_by == "ada"
    browser.hide_navigation()
    browser.screenshot("admin-dashboard.png", full_page=True)

    browser.click("#activejob-queues tr[data-queue='mailers'] button[value=resume]")

    browser.wait_for_text(".messagelist .success", "Resumed queue “mailers”.")
    assert not browser.find_all("#activejob-queues .activejob-badge-paused")
    assert browser.find("#activejob-queues tr[data-queue='mailers'] button[value=pause]")
    assert not PausedQueue.objects.exists()

    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=WORKER_TIMEOUT) == 0, worker.output()


def test_dashboard_rejects_invalid_queue_name(browser, admin_user):
    browser.log_in("ada", PASSWORD, reverse(DASHBOARD))

    browser.find("#activejob-pause-queue").send_keys("mail,reports")
    browser.find("#activejob-pause-other button[value=pause]").click()

    browser.wait_for_text(".messagelist .error", "Queue name “mail,reports” is invalid")
    assert not PausedQueue.objects.exists()
    assert "No queue has jobs" in browser.text("#activejob-queues")


def test_dashboard_viewer_gets_no_pause_buttons(browser, viewer_user, start_worker):
    seed_jobs(start_worker)
    browser.log_in("grace", PASSWORD, reverse(DASHBOARD))

    assert dashboard_cell(browser, "default", "failed") == "2"
    assert not browser.find_all("#activejob-queues button")
    assert not browser.find_all("#activejob-pause-other")
