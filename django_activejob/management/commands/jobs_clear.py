"""``manage.py jobs_clear``: delete jobs from the DelayedJob table, in batches, after confirmation."""

from __future__ import annotations

import argparse
import datetime
import functools
import operator
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.models import Max
from django.utils import timezone

from ... import conf, log
from ...models import DelayedJob, DelayedJobQuerySet, JobState
from .jobs_worker import parse_queues

#: Rows removed per DELETE statement, so a big table never needs one huge transaction.
BATCH_SIZE = 10_000

#: States cleared when --state is absent. Running jobs are kept because their
#: workers go on performing them whether or not the row exists.
DEFAULT_STATES = (JobState.SCHEDULED, JobState.READY, JobState.FAILED)


class Command(BaseCommand):
    help = (
        "Delete jobs from the DelayedJob table after printing how many match in each state and "
        "asking for confirmation. By default scheduled, ready and failed jobs are deleted and "
        "running jobs are kept."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--queue", action="append", dest="queue", metavar="NAME",
            help="Delete jobs of this queue only. Repeat it, or separate names with commas. "
                 "Names match exactly, and 'default' also matches rows with an empty queue. "
                 "Default: all queues.",
        )
        parser.add_argument(
            "--state", action="append", dest="state", metavar="STATE",
            help="Delete jobs in this state only: scheduled, ready, running or failed. Repeat it, or "
                 "separate states with commas. Default: scheduled, ready and failed. Running jobs are "
                 "deleted only when this option names them.",
        )
        parser.add_argument(
            "--job-class", action="append", dest="job_class", metavar="PATH",
            help="Delete jobs of this class only, given as the dotted path stored in the job_class "
                 "column (e.g. myapp.jobs.SendEmailJob). Repeat it for more classes. Default: all classes.",
        )
        parser.add_argument(
            "--database", default=None, metavar="ALIAS",
            help="Database alias of the DelayedJob table. Default: ACTIVEJOB['DATABASE'].",
        )
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive",
            help="Delete without asking for confirmation.",
        )
        parser.add_argument(
            "--dry-run", action="store_true",
            help="Print how many jobs match in each state and delete nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        states = parse_states(options["state"])
        queues = parse_queues([("--queue", value) for value in options["queue"] or []])
        job_classes = parse_job_classes(options["job_class"])
        database = resolve_database(options["database"])
        verbose = options["verbosity"] >= 1

        if JobState.RUNNING in states:
            self.stderr.write(self.style.WARNING(
                "Deleting running jobs does not stop them: their workers go on performing them, so "
                "their effects still happen, and each worker logs a lost lock when its job finishes."
            ))

        # One clock for the counts and every DELETE, so "scheduled" and "ready"
        # mean the same rows in the summary and in the deletion.
        now = timezone.now()
        selection = select_jobs(database, states, queues, job_classes, now)

        # Rows enqueued from here on get higher ids, so this bound keeps them
        # out of the counts and the DELETEs. A transaction that took a lower id
        # but commits later can still fall under it.
        last_pk = selection.aggregate(last=Max("pk"))["last"]
        if last_pk is not None:
            selection = selection.filter(pk__lte=last_pk)
        counts = {state: selection.in_state(state, now).count() for state in states}
        total = sum(counts.values())

        scope = describe_filter(database, states, queues, job_classes)
        if total == 0:
            if verbose:
                self.stdout.write(f"No jobs match {scope}.")
            return
        if verbose:
            self.write_summary(scope, counts)

        if options["dry_run"]:
            if verbose:
                self.stdout.write("Dry run: deleted nothing.")
            return

        if options["interactive"] and not self.confirm(total):
            self.stdout.write("Cancelled: deleted nothing.")
            return

        deleted = delete_in_batches(selection)
        log.jobs_cleared(database, deleted, states, queues, job_classes)

        if verbose:
            self.stdout.write(f"Deleted {deleted} job(s).")
            if deleted < total:
                self.stdout.write(
                    f"{total - deleted} of the jobs counted above were not deleted: a worker took, "
                    f"finished or rescheduled them in the meantime."
                )

    def write_summary(self, scope: str, counts: dict[JobState, int]) -> None:
        self.stdout.write(f"Jobs that match {scope}:")
        for state, count in counts.items():
            self.stdout.write(f"  {state.value:<10} {count}")
        self.stdout.write(f"  {'total':<10} {sum(counts.values())}")

    def confirm(self, total: int) -> bool:
        """Prompt for 'yes' and return whether the user typed it."""
        try:
            answer = input(
                f"This deletes {total} job(s) for good; the ones not yet performed will never run.\n"
                f"Type 'yes' to continue, or 'no' to cancel: "
            )
        except EOFError:
            raise CommandError(
                "Deleted nothing: standard input ended before 'yes' was typed. "
                "Pass --no-input to delete without confirmation."
            ) from None
        return answer == "yes"


def parse_states(values: list[str] | None) -> list[JobState]:
    """Split --state values into states in JobState order, or return DEFAULT_STATES if there are none."""
    if not values:
        return list(DEFAULT_STATES)

    requested: set[str] = set()
    for value in values:
        for part in value.split(","):
            state = part.strip()
            if state not in JobState.values:
                raise CommandError(
                    f"--state {value!r} is invalid: use one of {', '.join(JobState.values)}."
                )
            requested.add(state)
    return [state for state in JobState if state in requested]


def parse_job_classes(values: list[str] | None) -> list[str] | None:
    """Validate --job-class values and return them without duplicates, or None for all classes."""
    if not values:
        return None

    max_length = DelayedJob._meta.get_field("job_class").max_length
    classes: list[str] = []
    for value in values:
        if not value or value != value.strip():
            raise CommandError(
                f"--job-class {value!r} is invalid: pass the dotted path stored in the job_class column, "
                f"e.g. myapp.jobs.SendEmailJob, without surrounding whitespace."
            )
        if len(value) > max_length:
            raise CommandError(
                f"--job-class {value[:40]!r}... is {len(value)} characters long, but the job_class "
                f"column stores at most {max_length}."
            )
        if value not in classes:
            classes.append(value)
    return classes


def resolve_database(option: str | None) -> str:
    """Return the --database alias, or ACTIVEJOB['DATABASE'], if DATABASES defines it."""
    database = option or conf.get("DATABASE")
    if database in connections.settings:
        return database
    source = "--database" if option else "ACTIVEJOB['DATABASE']"
    raise CommandError(
        f"{source} {database!r} is not in DATABASES. Use one of {', '.join(sorted(connections.settings))}."
    )


def select_jobs(
    database: str,
    states: list[JobState],
    queues: list[str] | None,
    job_classes: list[str] | None,
    now: datetime.datetime,
) -> DelayedJobQuerySet:
    """Return the rows in any of ``states`` at ``now`` that match the queue and class filters."""
    jobs = DelayedJob.objects.using(database)
    selection = functools.reduce(operator.or_, [jobs.in_state(state, now) for state in states])
    if queues is not None:
        selection = selection.in_queues(queues)
    if job_classes is not None:
        selection = selection.filter(job_class__in=job_classes)
    return selection


def delete_in_batches(selection: DelayedJobQuerySet) -> int:
    """Delete the rows of ``selection`` BATCH_SIZE at a time, in primary key order, and return the count.

    Each DELETE repeats the whole filter of ``selection``, so a row that left
    the requested states after it was counted (a worker locked it, for one)
    is kept.
    """
    deleted = 0
    remaining = selection.order_by("pk")
    while True:
        batch = list(remaining.values_list("pk", flat=True)[:BATCH_SIZE])
        if not batch:
            return deleted

        count, _ = remaining.filter(pk__lte=batch[-1]).delete()
        deleted += count

        # The next batch starts after this one's last key, so rows the DELETE
        # kept are not read again and the loop ends.
        remaining = remaining.filter(pk__gt=batch[-1])


def describe_filter(
    database: str, states: list[JobState], queues: list[str] | None, job_classes: list[str] | None
) -> str:
    return (
        f"in database {database!r} (states: {', '.join(states)}; "
        f"queues: {', '.join(queues) if queues else 'all'}; "
        f"job classes: {', '.join(job_classes) if job_classes else 'all'})"
    )
