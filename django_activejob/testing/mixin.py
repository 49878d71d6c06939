"""ActiveJobTestMixin: the test adapter and Rails' job assertions for unittest and Django test cases."""

from __future__ import annotations

import contextlib
import datetime
from typing import TYPE_CHECKING, Any

from ..adapters import use_adapter
from ..adapters.test import JobFilter, RecordedJob, TestAdapter
from .helpers import BlockResult, JobTestHelper

if TYPE_CHECKING:
    from ..job import Job


class ActiveJobTestMixin:
    """Send every job to a fresh TestAdapter during each test, and add Rails' job assertions.

    List it before the test case class::

        class SignUpTests(ActiveJobTestMixin, TestCase):
            def test_sends_confirmation(self):
                self.client.post("/signup/", {...})
                self.assert_enqueued_with(job=SignUpConfirmationEmailJob, queue="mail")

    ``setUp`` switches the adapter before the other setUp methods run and
    switches it back in a cleanup, after ``tearDown``. A class that
    overrides ``setUp`` must call ``super().setUp()``. Jobs enqueued in
    ``setUpClass`` or ``setUpTestData`` still go to the configured adapter.
    The methods are those of JobTestHelper, which ``self.activejob`` holds.
    """

    activejob: JobTestHelper

    def queue_adapter_for_test(self) -> TestAdapter:
        """Return the adapter for one test; override to use a TestAdapter subclass."""
        return TestAdapter()

    def setUp(self) -> None:
        adapter = self.queue_adapter_for_test()
        self.enterContext(use_adapter(adapter))
        self.activejob = JobTestHelper(adapter)
        super().setUp()

    @property
    def queue_adapter(self) -> TestAdapter:
        return self.activejob.adapter

    @property
    def enqueued_jobs(self) -> list[RecordedJob]:
        return self.activejob.enqueued_jobs

    @property
    def performed_jobs(self) -> list[RecordedJob]:
        return self.activejob.performed_jobs

    # Each method returns the helper's result directly, so both the plain
    # call and the with statement form work (see calls.py).

    def assert_enqueued_jobs(
        self, number: int, *, only: JobFilter | None = None, except_: JobFilter | None = None,
        queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        __tracebackhide__ = True
        return self.activejob.assert_enqueued_jobs(number, only=only, except_=except_, queue=queue)

    def assert_no_enqueued_jobs(
        self, *, only: JobFilter | None = None, except_: JobFilter | None = None, queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        __tracebackhide__ = True
        return self.activejob.assert_no_enqueued_jobs(only=only, except_=except_, queue=queue)

    def assert_enqueued_with(
        self, *, job: Any = None, args: Any = None, kwargs: Any = None, queue: Any = None,
        priority: Any = None, at: Any = None,
    ) -> Job | contextlib.AbstractContextManager[BlockResult]:
        __tracebackhide__ = True
        return self.activejob.assert_enqueued_with(
            job=job, args=args, kwargs=kwargs, queue=queue, priority=priority, at=at
        )

    def assert_performed_jobs(
        self, number: int, *, only: JobFilter | None = None, except_: JobFilter | None = None,
        queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        __tracebackhide__ = True
        return self.activejob.assert_performed_jobs(number, only=only, except_=except_, queue=queue)

    def assert_no_performed_jobs(
        self, *, only: JobFilter | None = None, except_: JobFilter | None = None, queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        __tracebackhide__ = True
        return self.activejob.assert_no_performed_jobs(only=only, except_=except_, queue=queue)

    def assert_performed_with(
        self, *, job: Any = None, args: Any = None, kwargs: Any = None, queue: Any = None,
        priority: Any = None, at: Any = None,
    ) -> Job | contextlib.AbstractContextManager[BlockResult]:
        __tracebackhide__ = True
        return self.activejob.assert_performed_with(
            job=job, args=args, kwargs=kwargs, queue=queue, priority=priority, at=at
        )

    def perform_enqueued_jobs(
        self, *, only: JobFilter | None = None, except_: JobFilter | None = None, queue: str | None = None,
        at: datetime.datetime | None = None,
    ) -> int | contextlib.AbstractContextManager[BlockResult]:
        return self.activejob.perform_enqueued_jobs(only=only, except_=except_, queue=queue, at=at)
