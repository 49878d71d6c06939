"""Fixture jobs for tests/test_review_findings.py."""

import sys

from django_activejob import Job


class ExitJob(Job):
    """Calls sys.exit, as code that ends with a command-line style exit does."""

    def perform(self):
        sys.exit(3)
