"""``manage.py jobs_clear``: filters, confirmation, dry run, batches and bad input."""

import builtins
import datetime
import logging
import subprocess
import sys
import time
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_activejob.management.commands import jobs_clear
from django_activejob.models import DelayedJob, JobState
from tests.conftest import ROOT, worker_environment
from tests.testapp.jobs import NoopJob, SleepJob
from tests.testapp.models import Performance

pytestmark = pytest.mark.django_db

NOOP = "tests.testapp.jobs.NoopJob"
OTHER = "tests.testapp.jobs.OtherJob"

#: Upper bound on waiting for a worker subprocess, not a speed requirement.
WAIT_TIMEOUT = 30.0


def make_job(state: str, queue: str = "default", job_class: str = NOOP) -> DelayedJob:
    """Insert a DelayedJob row in ``state`` directly, without a Job class behind it."""
    now = timezone.now()
    hour = datetime.timedelta(hours=1)
    columns = {"run_at": now - hour}
    if state == JobState.SCHEDULED:
        columns["run_at"] = now + hour
    elif state == JobState.RUNNING:
        columns.update(locked_at=now, locked_by="host:test pid:1")
    elif state == JobState.FAILED:
        columns.update(failed_at=now, attempts=25, last_error="RuntimeError: boom")
    row = DelayedJob.objects.create(
        handler="{}", queue=queue, job_id=uuid.uuid4(), job_class=job_class, **columns
    )
    assert row.state() == state
    return row


def make_one_of_each(**columns) -> dict[str, DelayedJob]:
    return {state: make_job(state, **columns) for state in JobState.values}


def clear(*args: str) -> tuple[str, str]:
    """Run jobs_clear with ``args`` and return its stdout and stderr."""
    stdout, stderr = StringIO(), StringIO()
    call_command("jobs_clear", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def remaining_states() -> list[str]:
    return sorted(row.state() for row in DelayedJob.objects.all())


@pytest.fixture
def answer(monkeypatch):
    """Answer the confirmation prompt with the given text and record each prompt."""
    prompts: list[str] = []

    def set_answer(text: str, before_answer=None) -> list[str]:
        def fake_input(prompt: str = "") -> str:
            prompts.append(prompt)
            if before_answer is not None:
                before_answer()
            return text

        monkeypatch.setattr(builtins, "input", fake_input)
        return prompts

    return set_answer


@pytest.fixture
def no_prompt(monkeypatch):
    """Fail the test if the command prompts for confirmation."""

    def fake_input(prompt: str = "") -> str:
        raise AssertionError(f"jobs_clear prompted for confirmation: {prompt!r}")

    monkeypatch.setattr(builtins, "input", fake_input)


# Which rows go by default, and the running state.


def test_default_keeps_running_jobs(no_prompt):
    rows = make_one_of_each()

    stdout, stderr = clear("--no-input")

    assert list(DelayedJob.objects.values_list("pk", flat=True)) == [rows["running"].pk]
    assert "Deleted 3 job(s)." in stdout
    assert stderr == ""


def test_summary_counts_each_state(no_prompt):
    make_job("scheduled")
    make_job("ready")
    make_job("ready")
    make_job("failed")
    make_job("running")

    stdout, _ = clear("--no-input")

    assert "Jobs that match in database 'default' (states: scheduled, ready, failed; queues: all; job classes: all):" in stdout
    assert "  scheduled  1\n" in stdout
    assert "  ready      2\n" in stdout
    assert "  failed     1\n" in stdout
    assert "  total      4\n" in stdout
    assert "running" not in stdout
    assert "Deleted 4 job(s)." in stdout


def test_state_running_deletes_and_warns(no_prompt):
    rows = make_one_of_each()

    stdout, stderr = clear("--no-input", "--state", "running")

    assert not DelayedJob.objects.filter(pk=rows["running"].pk).exists()
    assert remaining_states() == ["failed", "ready", "scheduled"]
    assert "  running    1\n" in stdout
    assert "Deleted 1 job(s)." in stdout
    assert "does not stop them" in stderr
    assert "logs a lost lock" in stderr


@pytest.mark.parametrize(
    ("args", "expected_remaining"),
    [
        (["--state", "ready"], ["failed", "running", "scheduled"]),
        (["--state", "scheduled"], ["failed", "ready", "running"]),
        (["--state", "failed"], ["ready", "running", "scheduled"]),
        (["--state", "ready", "--state", "failed"], ["running", "scheduled"]),
        (["--state", "scheduled,failed"], ["ready", "running"]),
        (["--state", "scheduled, ready,running,failed"], []),
    ],
    ids=["ready", "scheduled", "failed", "repeated", "commas", "all-four"],
)
def test_state_option(no_prompt, args, expected_remaining):
    make_one_of_each()

    clear("--no-input", *args)

    assert remaining_states() == expected_remaining


def test_state_listed_in_fixed_order(no_prompt):
    make_one_of_each()

    stdout, _ = clear("--no-input", "--state", "failed,scheduled", "--state", "failed")

    assert "(states: scheduled, failed;" in stdout
    assert stdout.index("  scheduled  1") < stdout.index("  failed     1")
    assert "Deleted 2 job(s)." in stdout


# Queue and job class filters.


def test_queue_matches_exact_names(no_prompt):
    mail = make_job("ready", queue="mail")
    make_job("ready", queue="mailers")
    make_job("ready", queue="MAIL")
    make_job("ready", queue="mail-1")

    stdout, _ = clear("--no-input", "--queue", "mail")

    assert not DelayedJob.objects.filter(pk=mail.pk).exists()
    assert sorted(DelayedJob.objects.values_list("queue", flat=True)) == ["MAIL", "mail-1", "mailers"]
    assert "queues: mail;" in stdout


def test_queue_repeated_and_commas(no_prompt):
    for queue in ("mail", "reports", "low", "urgent"):
        make_job("ready", queue=queue)

    clear("--no-input", "--queue", "mail, reports", "--queue", "low")

    assert list(DelayedJob.objects.values_list("queue", flat=True)) == ["urgent"]


def test_default_queue_matches_empty_queue(no_prompt):
    make_job("ready", queue="default")
    make_job("failed", queue="")
    other = make_job("ready", queue="mail")

    stdout, _ = clear("--no-input", "--queue", "default")

    assert list(DelayedJob.objects.values_list("pk", flat=True)) == [other.pk]
    assert "Deleted 2 job(s)." in stdout


def test_job_class_matches_exact_path(no_prompt):
    noop = make_job("ready", job_class=NOOP)
    make_job("ready", job_class=OTHER)
    make_job("ready", job_class="tests.testapp.jobs.NoopJobV2")
    make_job("ready", job_class="NoopJob")

    stdout, _ = clear("--no-input", "--job-class", NOOP)

    assert not DelayedJob.objects.filter(pk=noop.pk).exists()
    assert DelayedJob.objects.count() == 3
    assert f"job classes: {NOOP})" in stdout


def test_job_class_repeated(no_prompt):
    make_job("ready", job_class=NOOP)
    make_job("failed", job_class=OTHER)
    kept = make_job("ready", job_class="tests.testapp.jobs.ThirdJob")

    clear("--no-input", "--job-class", NOOP, "--job-class", OTHER)

    assert list(DelayedJob.objects.values_list("pk", flat=True)) == [kept.pk]


def test_job_class_of_enqueued_job(no_prompt):
    job = NoopJob.perform_later()
    other = SleepJob.perform_later("sleep", 0)

    clear("--no-input", "--job-class", "tests.testapp.jobs.NoopJob")

    assert not DelayedJob.objects.filter(pk=job.provider_job_id).exists()
    assert DelayedJob.objects.filter(pk=other.provider_job_id).exists()


def test_filters_combine_with_and(no_prompt):
    target = make_job("failed", queue="mail", job_class=NOOP)
    make_one_of_each(queue="mail", job_class=OTHER)
    make_one_of_each(queue="reports", job_class=NOOP)
    make_job("ready", queue="mail", job_class=NOOP)
    make_job("running", queue="mail", job_class=NOOP)

    stdout, _ = clear("--no-input", "--queue", "mail", "--state", "failed", "--job-class", NOOP)

    assert not DelayedJob.objects.filter(pk=target.pk).exists()
    assert DelayedJob.objects.count() == 10
    assert "Deleted 1 job(s)." in stdout


def test_nothing_matches(no_prompt):
    make_job("running")
    make_job("ready", queue="mail")

    stdout, stderr = clear("--queue", "reports")

    assert stdout == (
        "No jobs match in database 'default' (states: scheduled, ready, failed; queues: reports; "
        "job classes: all).\n"
    )
    assert stderr == ""
    assert DelayedJob.objects.count() == 2


def test_empty_table(no_prompt):
    stdout, _ = clear()

    assert stdout.startswith("No jobs match")


# Confirmation and dry run.


def test_confirm_yes_deletes(answer):
    make_one_of_each()
    prompts = answer("yes")

    stdout, _ = clear()

    assert remaining_states() == ["running"]
    assert len(prompts) == 1
    assert "This deletes 3 job(s) for good" in prompts[0]
    assert prompts[0].endswith("Type 'yes' to continue, or 'no' to cancel: ")
    assert "Deleted 3 job(s)." in stdout


@pytest.mark.parametrize("text", ["no", "", "y", "YES", " yes"])
def test_confirm_other_answer_cancels(answer, text):
    make_one_of_each()
    answer(text)

    stdout, _ = clear()

    assert DelayedJob.objects.count() == 4
    assert "  total      3\n" in stdout
    assert stdout.endswith("Cancelled: deleted nothing.\n")
    assert "Deleted" not in stdout


def test_summary_printed_before_prompt(answer):
    make_job("ready")
    printed_at_prompt: list[str] = []
    stdout = StringIO()
    answer("no", before_answer=lambda: printed_at_prompt.append(stdout.getvalue()))

    call_command("jobs_clear", stdout=stdout, stderr=StringIO())

    assert "  ready      1\n" in printed_at_prompt[0]


def test_confirm_end_of_input_raises(monkeypatch):
    make_job("ready")

    def closed_input(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(builtins, "input", closed_input)

    with pytest.raises(CommandError, match=r"standard input ended before 'yes' was typed\. Pass --no-input"):
        clear()
    assert DelayedJob.objects.count() == 1


@pytest.mark.parametrize("flag", ["--no-input", "--noinput"])
def test_no_input_spellings(no_prompt, flag):
    make_job("ready")

    clear(flag)

    assert DelayedJob.objects.count() == 0


def test_interactive_false_keyword(no_prompt):
    make_job("ready")

    call_command("jobs_clear", interactive=False, stdout=StringIO())

    assert DelayedJob.objects.count() == 0


@pytest.mark.parametrize("extra", [[], ["--no-input"]], ids=["interactive", "no-input"])
def test_dry_run_deletes_nothing(no_prompt, extra):
    make_one_of_each()

    stdout, _ = clear("--dry-run", *extra)

    assert DelayedJob.objects.count() == 4
    assert "  scheduled  1\n" in stdout
    assert "  total      3\n" in stdout
    assert stdout.endswith("Dry run: deleted nothing.\n")


def test_dry_run_with_running_warns(no_prompt):
    make_one_of_each()

    stdout, stderr = clear("--dry-run", "--state", "running")

    assert DelayedJob.objects.count() == 4
    assert "  running    1\n" in stdout
    assert "does not stop them" in stderr


def test_verbosity_zero_prints_nothing(no_prompt):
    make_job("ready")

    stdout, stderr = clear("--no-input", "--verbosity", "0")

    assert DelayedJob.objects.count() == 0
    assert stdout == ""
    assert stderr == ""


def test_result_logged(no_prompt, caplog):
    make_one_of_each(queue="mail")

    with caplog.at_level(logging.INFO, logger="django_activejob"):
        clear("--no-input", "--queue", "mail", "--state", "ready,failed", "--job-class", NOOP)

    messages = [record.getMessage() for record in caplog.records if record.name == "django_activejob"]
    assert messages == [
        f"Cleared 2 job(s) with jobs_clear database=default states=ready,failed queues=mail job_classes={NOOP}"
    ]


def test_nothing_logged_when_cancelled(answer, caplog):
    make_job("ready")
    answer("no")

    with caplog.at_level(logging.INFO, logger="django_activejob"):
        clear()

    assert [record for record in caplog.records if record.name == "django_activejob"] == []


# Rows that change between the count and the DELETE.


def test_job_locked_after_count_is_kept(answer):
    rows = [make_job("ready") for _ in range(3)]

    def worker_takes_first_row():
        DelayedJob.objects.filter(pk=rows[0].pk).update(locked_at=timezone.now(), locked_by="host:w pid:2")

    answer("yes", before_answer=worker_takes_first_row)

    stdout, _ = clear()

    assert list(DelayedJob.objects.values_list("pk", flat=True)) == [rows[0].pk]
    assert "  total      3\n" in stdout
    assert "Deleted 2 job(s)." in stdout
    assert "1 of the jobs counted above were not deleted" in stdout


def test_job_locked_after_count_deleted_with_running(answer):
    row = make_job("ready")

    def worker_takes_row():
        DelayedJob.objects.filter(pk=row.pk).update(locked_at=timezone.now(), locked_by="host:w pid:2")

    answer("yes", before_answer=worker_takes_row)

    stdout, _ = clear("--state", "ready,running")

    assert DelayedJob.objects.count() == 0
    assert "Deleted 1 job(s)." in stdout


def test_job_enqueued_after_count_is_kept(answer):
    make_job("ready")
    late: list[DelayedJob] = []
    answer("yes", before_answer=lambda: late.append(make_job("ready")))

    stdout, _ = clear()

    assert list(DelayedJob.objects.values_list("pk", flat=True)) == [late[0].pk]
    assert "Deleted 1 job(s)." in stdout


def test_all_rows_gone_after_count(answer):
    make_job("ready")
    answer("yes", before_answer=lambda: DelayedJob.objects.all().delete())

    stdout, _ = clear()

    assert "Deleted 0 job(s)." in stdout
    assert "1 of the jobs counted above were not deleted" in stdout


# Batches.


def test_deletes_in_batches(no_prompt, monkeypatch):
    monkeypatch.setattr(jobs_clear, "BATCH_SIZE", 3)
    running = []
    for number in range(10):
        make_job("ready" if number % 2 else "failed")
        if number % 4 == 0:
            running.append(make_job("running").pk)

    with CaptureQueriesContext(connection) as queries:
        stdout, _ = clear("--no-input")

    deletes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 4
    assert sorted(DelayedJob.objects.values_list("pk", flat=True)) == running
    assert "Deleted 10 job(s)." in stdout


def test_batch_size_equal_to_rows(no_prompt, monkeypatch):
    monkeypatch.setattr(jobs_clear, "BATCH_SIZE", 5)
    for _ in range(5):
        make_job("ready")

    with CaptureQueriesContext(connection) as queries:
        stdout, _ = clear("--no-input")

    deletes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 1
    assert DelayedJob.objects.count() == 0
    assert "Deleted 5 job(s)." in stdout


def test_each_delete_repeats_state_filter(no_prompt, monkeypatch):
    monkeypatch.setattr(jobs_clear, "BATCH_SIZE", 2)
    rows = [make_job("ready") for _ in range(6)]
    real_delete = jobs_clear.DelayedJobQuerySet.delete
    calls = []

    def lock_then_delete(queryset):
        # The second batch is rows 2 and 3: a worker locks row 3 after the
        # batch's primary keys were read and before its DELETE runs.
        calls.append(queryset)
        if len(calls) == 2:
            DelayedJob.objects.filter(pk=rows[3].pk).update(locked_at=timezone.now(), locked_by="host:w pid:3")
        return real_delete(queryset)

    monkeypatch.setattr(jobs_clear.DelayedJobQuerySet, "delete", lock_then_delete)

    stdout, _ = clear("--no-input")

    assert len(calls) == 3
    assert list(DelayedJob.objects.values_list("pk", flat=True)) == [rows[3].pk]
    assert "Deleted 5 job(s)." in stdout


# Bad input.


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--state", "finished"], "--state 'finished' is invalid: use one of scheduled, ready, running, failed."),
        (["--state", "Ready"], "--state 'Ready' is invalid: use one of scheduled, ready, running, failed."),
        (["--state", "ready,,failed"], "--state 'ready,,failed' is invalid: use one of scheduled, ready, running, failed."),
        (["--state", ""], "--state '' is invalid: use one of scheduled, ready, running, failed."),
        (["--queue", ""], "--queue '': Queue name '' is invalid: it must be non-empty"),
        (["--queue", "mail,,low"], "--queue 'mail,,low': Queue name '' is invalid"),
        (["--queue", "x" * 256], "is 256 characters long; the maximum is 255."),
        (["--job-class", ""], "--job-class '' is invalid: pass the dotted path stored in the job_class column"),
        (["--job-class", " tests.testapp.jobs.NoopJob"], "--job-class ' tests.testapp.jobs.NoopJob' is invalid"),
        (["--job-class", "a" * 300], "is 300 characters long, but the job_class column stores at most 255."),
        (["--database", "nope"], "--database 'nope' is not in DATABASES. Use one of default."),
    ],
    ids=[
        "unknown-state", "state-case", "empty-state-in-list", "empty-state", "empty-queue",
        "empty-queue-in-list", "long-queue", "empty-job-class", "job-class-whitespace",
        "long-job-class", "unknown-database",
    ],
)
def test_bad_input_raises(no_prompt, args, message):
    row = make_job("ready")

    with pytest.raises(CommandError) as raised:
        clear("--no-input", *args)

    assert message in str(raised.value)
    assert DelayedJob.objects.filter(pk=row.pk).exists()


@override_settings(ACTIVEJOB={"DATABASE": "jobs"})
def test_unknown_database_setting_raises(no_prompt):
    with pytest.raises(CommandError, match=r"^ACTIVEJOB\['DATABASE'\] 'jobs' is not in DATABASES\. Use one of default\.$"):
        clear("--no-input")


@override_settings(ACTIVEJOB={"DATABASE": "jobs"})
def test_database_option_overrides_setting(no_prompt):
    make_job("ready")

    clear("--no-input", "--database", "default")

    assert DelayedJob.objects.count() == 0


# As a separate process, the way an operator runs it.


def run_clear(*args: str, stdin: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "jobs_clear", *args],
        cwd=ROOT, env=worker_environment(), input=stdin, capture_output=True, text=True,
        timeout=WAIT_TIMEOUT,
    )


@pytest.mark.django_db(transaction=True)
def test_process_reads_yes_from_stdin():
    make_one_of_each()

    result = run_clear(stdin="yes\n")

    assert result.returncode == 0, result.stderr
    assert "Type 'yes' to continue" in result.stdout
    assert "Deleted 3 job(s)." in result.stdout
    assert remaining_states() == ["running"]


@pytest.mark.django_db(transaction=True)
def test_process_stdin_closed_fails():
    make_job("ready")

    result = run_clear(stdin="")

    assert result.returncode == 1
    assert "CommandError: Deleted nothing: standard input ended before 'yes' was typed." in result.stderr
    assert DelayedJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_process_bad_state_exits_nonzero():
    result = run_clear("--state", "done", stdin="")

    assert result.returncode == 1
    assert "--state 'done' is invalid: use one of scheduled, ready, running, failed." in result.stderr


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_running_job_still_performed_after_clear(start_worker):
    job = SleepJob.perform_later("cleared while running", 3)
    worker = start_worker("--identifier", "w-clear", "--sleep-delay", "0.05")
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not Performance.objects.filter(label="cleared while running").exists():
        assert worker.process.poll() is None, f"the worker exited:\n{worker.output()}"
        assert time.monotonic() < deadline, f"the sleep job never started:\n{worker.output()}"
        time.sleep(0.05)

    stdout, stderr = clear("--no-input", "--state", "running")

    assert "Deleted 1 job(s)." in stdout
    assert "logs a lost lock" in stderr
    worker.wait_for_output(f"no longer owns the lock on row id={job.provider_job_id}", timeout=WAIT_TIMEOUT)
    assert Performance.objects.get(label="cleared while running").finished_at is not None
    assert not DelayedJob.objects.exists()
