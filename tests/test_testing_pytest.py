"""The pytest plugin in a project's own pytest run: the activejob fixture and the mixin.

The runs use no database, so they never create or drop the test database
that this session uses.
"""

import re
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

USER_TESTS = textwrap.dedent(
    """
    import pytest
    from django.test import SimpleTestCase

    from django_activejob.testing import ActiveJobTestMixin
    from tests.testapp.jobs import ConnectionRetryJob, EchoJob, NoopJob, echoed


    def test_plain_calls(activejob):
        EchoJob.perform_later("hello")
        activejob.assert_enqueued_jobs(1)
        activejob.assert_enqueued_with(job=EchoJob, args=["hello"])
        assert activejob.perform_enqueued_jobs() == 1
        activejob.assert_performed_with(job=EchoJob, args=["hello"])
        assert echoed[-1] == (("hello",), {})


    def test_with_statements(activejob):
        with activejob.assert_enqueued_jobs(2, only=EchoJob):
            EchoJob.perform_later(1)
            EchoJob.perform_later(2)
            NoopJob.perform_later()
        with activejob.assert_performed_jobs(1):
            EchoJob.perform_later(3)


    def test_retries(activejob):
        with pytest.raises(ConnectionError):
            with activejob.perform_enqueued_jobs():
                ConnectionRetryJob.perform_later("plugin")
        assert len(activejob.performed_jobs) == 3


    def test_failing_count(activejob):
        NoopJob.perform_later(1)
        activejob.assert_enqueued_jobs(2)


    class TestMixin(ActiveJobTestMixin, SimpleTestCase):
        def test_block(self):
            with self.assert_enqueued_with(job=EchoJob, args=["mixin"]):
                EchoJob.perform_later("mixin")

        def test_failing_match(self):
            EchoJob.perform_later("other")
            self.assert_enqueued_with(job=EchoJob, args=["mixin"])
    """
)


@pytest.fixture
def user_project(pytester, monkeypatch):
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_user=USER_TESTS)
    return pytester


def test_fixture_and_mixin_in_user_project(user_project):
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider", "-q")

    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_failing_count*",
            "E*AssertionError: Expected 2 enqueued jobs, got 1:",
            "E*  NoopJob(1) queue=default priority=0",
        ]
    )
    # Literal lines: fnmatch would read the brackets of args=['mixin'] as a pattern.
    result.stdout.re_match_lines(
        [
            ".*test_failing_match.*",
            r"E\s+" + re.escape("AssertionError: No enqueued job matches job=EchoJob, args=['mixin']. Enqueued jobs:"),
            r"E\s+" + re.escape("EchoJob('other') queue=default priority=0 (differs in args)"),
        ]
    )


def test_plugin_registered_by_entry_point(user_project):
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider", "--fixtures", "test_user.py")

    result.stdout.fnmatch_lines(["*fixtures defined from django_activejob.testing.pytest_plugin*", "activejob*"])


def test_plugin_can_be_disabled(user_project):
    result = user_project.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:django_activejob", "-q", "test_user.py::test_plain_calls"
    )

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'activejob' not found*"])
