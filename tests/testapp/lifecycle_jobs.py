"""Fixture jobs for callbacks, retry_on, discard_on and rescue_from."""

from django.db import OperationalError
from django.utils import timezone, translation

from django_activejob import Job
from django_activejob.callbacks import (
    Abort,
    after_discard,
    after_enqueue,
    after_perform,
    around_enqueue,
    around_perform,
    before_enqueue,
    before_perform,
)
from django_activejob.exceptions import RecordNotFoundDeserializationError
from django_activejob.rescue import discard_on, rescue_from, retry_on

from .models import Performance

#: What callbacks and handlers did in this process, in order.
events: list[str] = []


class TracedJob(Job):
    """Records every callback it runs."""

    @before_enqueue
    def parent_before_enqueue(self):
        events.append(f"before_enqueue parent {self.arguments}")

    @around_enqueue
    def parent_around_enqueue(self, enqueue):
        events.append("around_enqueue parent: start")
        enqueue()
        events.append("around_enqueue parent: end")

    @after_enqueue
    def parent_after_enqueue(self):
        events.append(f"after_enqueue parent enqueued={self.successfully_enqueued}")

    @before_perform
    def parent_before_perform(self):
        events.append("before_perform parent")

    @around_perform
    def parent_around_perform(self, perform):
        events.append("around_perform parent: start")
        perform()
        events.append("around_perform parent: end")

    @after_perform
    def parent_after_perform(self):
        events.append("after_perform parent")

    def perform(self, *args):
        events.append(f"perform {list(args)}")


class TracedChildJob(TracedJob):
    @before_perform
    def child_before_perform(self):
        events.append("before_perform child")

    @around_perform
    def child_around_perform(self, perform):
        events.append("around_perform child: start")
        perform()
        events.append("around_perform child: end")

    @after_perform
    def child_after_perform(self):
        events.append("after_perform child")


class HaltedEnqueueJob(Job):
    @before_enqueue
    def halt_when_asked(self):
        if self.kwargs.get("halt"):
            raise Abort()

    def perform(self, halt=False):
        events.append("perform halted-enqueue job")


class HaltedPerformJob(Job):
    @around_perform
    def skip(self, perform):
        events.append("around skips perform")

    @after_perform
    def never(self):
        events.append("after_perform must not run")

    def perform(self):
        events.append("perform must not run")


class LocaleJob(Job):
    def perform(self):
        Performance.objects.create(
            label="locale",
            value=f"{translation.get_language()} {timezone.get_current_timezone_name()}",
        )


class FlakyError(Exception):
    pass


class OtherError(Exception):
    pass


@retry_on(FlakyError, attempts=3, wait=0)
class RetryThreeJob(Job):
    """Always raises FlakyError; retry_on allows three executions."""

    def perform(self):
        Performance.objects.create(label="retry-three", value=str(self.executions))
        raise FlakyError(f"execution {self.executions}")


def remember_exhausted(job, exception):
    events.append(f"retries exhausted after {job.executions}: {exception}")


@retry_on(FlakyError, attempts=2, wait=0, handler=remember_exhausted)
class RetryWithHandlerJob(Job):
    @after_discard
    def discarded(self, exception):
        events.append(f"after_discard {type(exception).__name__}")

    def perform(self):
        Performance.objects.create(label="retry-handler", value=str(self.executions))
        raise FlakyError("always")


@retry_on(FlakyError, attempts=2, wait=0)
@retry_on(OtherError, attempts=4, wait=0)
class TwoCountersJob(Job):
    """Raises OtherError first, then FlakyError, to show separate counters."""

    def perform(self):
        Performance.objects.create(label="two-counters", value=str(self.executions))
        if self.executions <= 2:
            raise OtherError("first two")
        raise FlakyError("then flaky")


def note_discard(job, exception):
    events.append(f"discard handler: {exception}")


@discard_on(RecordNotFoundDeserializationError, handler=note_discard)
class InvoiceMailJob(Job):
    @after_discard
    def discarded(self, exception):
        events.append(f"after_discard {type(exception).__name__}")

    def perform(self, invoice):
        Performance.objects.create(label="invoice-mail", value=invoice.number)


@discard_on(RecordNotFoundDeserializationError)
class DatabaseErrorJob(Job):
    """Raises a database error, which discard_on for a missing record must not take."""

    def perform(self):
        raise OperationalError("server closed the connection unexpectedly")


class RescuingJob(Job):
    @rescue_from(ValueError)
    def handle_value_error(self, exception):
        events.append(f"rescued {exception}")

    @rescue_from(KeyError)
    def reraise(self, exception):
        events.append("re-raising")
        raise exception

    def perform(self, kind):
        if kind == "value":
            raise ValueError("bad value")
        if kind == "key":
            raise KeyError("missing")
        raise RuntimeError("unhandled")


@retry_on(ValueError, attempts=5, wait=0)
class RescuingChildJob(RescuingJob):
    """Its retry_on is newer than the parent's rescue_from, so it wins for ValueError."""


class SecretJob(Job):
    log_arguments = False

    def perform(self, token):
        return None


class PrioritizedJob(Job):
    queue_with_priority = staticmethod(lambda job: -10 if job.kwargs.get("vip") else 10)

    def perform(self, vip=False):
        return None


@retry_on(FlakyError, wait=30, jitter=0, queue="retries", priority=50)
class RetryLaterJob(Job):
    def perform(self):
        raise FlakyError("try later")
