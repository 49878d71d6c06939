#!/usr/bin/env python
"""Django's command-line utility for the benchmark settings, e.g. ``bench/manage.py jobs_worker``."""

import os
import sys
from pathlib import Path


def main() -> None:
    # The repository root in place of bench/, so "bench.settings" and django_activejob import
    # from the checkout and bench's own modules can't shadow installed ones.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
