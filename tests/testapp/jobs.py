"""Named fixture jobs used across the tests."""

import json
import os
import time

from django.utils import timezone

from django_activejob import Job

from .models import Performance

#: Arguments seen by EchoJob in this process, for in-process round-trip tests.
echoed: list = []


class NoopJob(Job):
    def perform(self, *args, **kwargs):
        return None


class EchoJob(Job):
    """Record the arguments it receives, in memory."""

    def perform(self, *args, **kwargs):
        echoed.append((args, kwargs))
        return args, kwargs


class RecordJob(Job):
    """Write one Performance row, so another process can see that it ran."""

    def perform(self, label, value=""):
        now = timezone.now()
        Performance.objects.create(
            label=label, job_id=self.job_id, pid=os.getpid(), value=value,
            started_at=now, finished_at=now,
        )


class SleepJob(Job):
    """Sleep, recording start and finish, so tests can check overlap and interruption."""

    def perform(self, label, seconds):
        record = Performance.objects.create(
            label=label, job_id=self.job_id, pid=os.getpid(), started_at=timezone.now()
        )
        time.sleep(seconds)
        record.finished_at = timezone.now()
        record.save(update_fields=["finished_at"])


class LengthJob(Job):
    """Record the length and a digest-free copy check of a large string argument."""

    def perform(self, label, text):
        Performance.objects.create(label=label, job_id=self.job_id, pid=os.getpid(), value=text)


class FailJob(Job):
    def perform(self, message="boom"):
        raise RuntimeError(message)


class HugeErrorJob(Job):
    def perform(self):
        raise ValueError("x" * 200_000 + "€" * 50_000)


class BoomJob(Job):
    def perform(self):
        raise RuntimeError("bad value 💥")


class GreetJob(Job):
    def perform(self, title):
        Performance.objects.create(label="greet", job_id=self.job_id, value=title)


class InvoiceJob(Job):
    def perform(self, invoice):
        Performance.objects.create(label="invoice", job_id=self.job_id, value=invoice.number)


class ArgumentsJob(Job):
    """Store its arguments as JSON-ish repr, for cross-process round trips."""

    def perform(self, *args, **kwargs):
        Performance.objects.create(
            label="arguments", job_id=self.job_id, value=json.dumps({"args": repr(args), "kwargs": repr(kwargs)})
        )


class MailQueueJob(Job):
    queue_as = "mail"

    def perform(self, label):
        Performance.objects.create(label=label, job_id=self.job_id)


class LimitedJob(Job):
    """Fails every time, with its own max_attempts."""

    max_attempts = 2

    def perform(self):
        raise RuntimeError("always fails")


class DynamicQueueJob(Job):
    """Chooses its queue from its keyword arguments."""

    queue_as = staticmethod(lambda job: "urgent" if job.kwargs.get("urgent") else "low")

    def perform(self, urgent=False):
        return urgent


class InlineEchoJob(EchoJob):
    queue_adapter = "inline"


class PriorityJob(Job):
    priority = 7

    def perform(self):
        return "done"


# Jobs for the test adapter and its helpers, in tests/test_testing.py.

from django_activejob.rescue import retry_on  # noqa: E402 - this section is appended to the file

#: One (label, executions) entry per perform call of the Connection*Job
#: classes, so a test can count performs on any adapter in this process.
connection_attempts: list = []


@retry_on(ConnectionError, attempts=3, wait=0)
class ConnectionRetryJob(Job):
    """Always raises ConnectionError; retry_on allows three executions."""

    def perform(self, label):
        connection_attempts.append((label, self.executions))
        raise ConnectionError(f"{label}: execution {self.executions}")


class ConnectionRetryFinalJob(ConnectionRetryJob):
    """Like ConnectionRetryJob, but the database worker doesn't retry once retry_on gives up."""

    max_attempts = 1


@retry_on(ConnectionError, attempts=1, wait=0)
class ConnectionNoRetryJob(Job):
    """Always raises ConnectionError; retry_on with attempts=1 never retries."""

    def perform(self, label):
        connection_attempts.append((label, self.executions))
        raise ConnectionError(f"{label}: execution {self.executions}")


#: What ChainJob did in this process, in order.
chained: list = []


class ChainJob(Job):
    """Enqueue itself with the remaining labels, recording when each perform starts and ends."""

    def perform(self, label, *rest):
        chained.append(f"start {label}")
        if rest:
            ChainJob.perform_later(*rest)
        chained.append(f"end {label}")
