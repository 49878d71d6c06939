"""``manage.py jobs_worker``: perform jobs from the database queue."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from ... import conf
from ...queues import validate_queue_name
from ...worker import Worker, WorkerOptions
from ...worker.worker import MAX_SLEEP_DELAY, default_identifier, validate_identifier


class Command(BaseCommand):
    help = (
        "Perform jobs from the DelayedJob table in the foreground until stopped "
        "with SIGTERM or SIGINT (Ctrl+C)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--queue", action="append", dest="queue", metavar="NAME",
            help="Take jobs from this queue only; repeat it, or separate names with commas. "
                 "Names match exactly. Default: all queues.",
        )
        parser.add_argument(
            "--queues", dest="queues", metavar="A,B",
            help="Comma-separated queue names, the same as repeating --queue.",
        )
        parser.add_argument(
            "--identifier", default=None,
            help="Name stored in locked_by. Default: 'host:<hostname> pid:<pid>'.",
        )
        parser.add_argument("--min-priority", type=int, default=None, metavar="N",
                            help="Take only jobs with priority >= N.")
        parser.add_argument("--max-priority", type=int, default=None, metavar="N",
                            help="Take only jobs with priority <= N.")
        parser.add_argument(
            "--sleep-delay", type=float, default=None, metavar="SECONDS",
            help="Seconds to wait between polls when no job is ready. "
                 "Default: ACTIVEJOB['SLEEP_DELAY'] (5).",
        )
        parser.add_argument(
            "--read-ahead", type=int, default=None, metavar="N",
            help="Jobs to reserve in one query. Default: ACTIVEJOB['READ_AHEAD'] (5).",
        )
        parser.add_argument("--exit-on-complete", action="store_true",
                            help="Exit once no job is ready, instead of waiting for more.")
        parser.add_argument(
            "--database", default=None,
            help="Database alias of the DelayedJob table. Default: ACTIVEJOB['DATABASE'].",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        worker_options = self.worker_options(options)
        self.configure_logging(options["verbosity"])
        status = Worker(worker_options).run()
        if status:
            sys.exit(status)

    def worker_options(self, options: dict[str, Any]) -> WorkerOptions:
        """Validate the command line and return the worker's options."""
        queue_options = [("--queue", value) for value in options["queue"] or []]
        if options["queues"] is not None:
            queue_options.append(("--queues", options["queues"]))
        queues = parse_queues(queue_options)

        sleep_delay = options["sleep_delay"]
        if sleep_delay is not None and not (0 < sleep_delay < MAX_SLEEP_DELAY):
            raise CommandError(
                f"--sleep-delay {sleep_delay} is invalid: pass a number of seconds greater than 0 "
                f"and less than {MAX_SLEEP_DELAY}."
            )

        if options["read_ahead"] is not None and options["read_ahead"] < 1:
            raise CommandError(f"--read-ahead {options['read_ahead']} is invalid: pass 1 or more.")

        low, high = options["min_priority"], options["max_priority"]
        if low is not None and high is not None and low > high:
            raise CommandError(
                f"--min-priority {low} is greater than --max-priority {high}: no job could match."
            )

        database = options["database"] or conf.get("DATABASE")
        if database not in connections.settings:
            raise CommandError(
                f"--database {database!r} is not in DATABASES; use one of {sorted(connections.settings)}."
            )

        identifier = options["identifier"]
        if identifier is not None:
            try:
                validate_identifier(identifier)
            except ValueError as exc:
                raise CommandError(f"--identifier: {exc}") from None

        return WorkerOptions(
            queues=queues,
            identifier=identifier or default_identifier(),
            min_priority=low,
            max_priority=high,
            sleep_delay=options["sleep_delay"],
            read_ahead=options["read_ahead"],
            exit_on_complete=options["exit_on_complete"],
            database=database,
        )

    def configure_logging(self, verbosity: int) -> None:
        """Print the worker's log lines, unless LOGGING already handles them."""
        logger = logging.getLogger("django_activejob")
        if logger.hasHandlers():
            return
        handler = logging.StreamHandler(self.stdout._out)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel({0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG))


def parse_queues(values: list[tuple[str, str]]) -> list[str] | None:
    """Split ``(option, value)`` pairs into exact queue names, or return None for all queues."""
    names: list[str] = []
    for option, value in values:
        for part in value.split(","):
            name = part.strip()
            try:
                validate_queue_name(name)
            except (TypeError, ValueError) as exc:
                raise CommandError(f"{option} {value!r}: {exc}") from None
            if name not in names:
                names.append(name)
    return names or None
