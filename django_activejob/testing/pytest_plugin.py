"""The pytest plugin, registered through the ``pytest11`` entry point: the ``activejob`` fixture.

pytest loads this module in every session where django_activejob is
installed, Django project or not, so it imports django_activejob only when
a test requests the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .helpers import JobTestHelper


@pytest.fixture
def activejob() -> Iterator[JobTestHelper]:
    """Send every job to a fresh TestAdapter during the test, and return Rails' job assertions.

        def test_signup_sends_confirmation(client, activejob):
            client.post("/signup/", {...})
            activejob.assert_enqueued_with(job=SignUpConfirmationEmailJob, queue="mail")
    """
    from ..adapters import use_adapter
    from ..adapters.test import TestAdapter
    from .helpers import JobTestHelper

    adapter = TestAdapter()
    with use_adapter(adapter):
        yield JobTestHelper(adapter)
