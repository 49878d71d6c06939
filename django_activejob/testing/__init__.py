"""Test jobs the way Rails does: a test adapter and ActiveJob::TestHelper's assertions.

    from django_activejob.testing import ActiveJobTestMixin

    class SignUpTests(ActiveJobTestMixin, TestCase):
        def test_sends_confirmation(self):
            ...
            self.assert_enqueued_jobs(1, only=SignUpConfirmationEmailJob)

With pytest, ask for the ``activejob`` fixture instead. See docs/testing.md.
"""

from ..adapters.test import JobSelection, RecordedJob, TestAdapter
from .helpers import BlockResult, JobTestHelper
from .mixin import ActiveJobTestMixin

__all__ = [
    "ActiveJobTestMixin",
    "BlockResult",
    "JobSelection",
    "JobTestHelper",
    "RecordedJob",
    "TestAdapter",
]
