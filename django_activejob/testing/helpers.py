"""Rails' ActiveJob::TestHelper assertions, over one TestAdapter."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..adapters.test import JobFilter, JobSelection, RecordedJob, TestAdapter, as_aware, describe_filter
from .calls import called_in_with_statement

if TYPE_CHECKING:
    from ..job import Job

#: How far a recorded run time may be from an expected ``at`` and still match.
AT_TOLERANCE = datetime.timedelta(seconds=1)


@dataclass
class BlockResult:
    """The jobs a helper used as a ``with`` statement found inside its block, filled in when the block ends.

    ``jobs`` lists the jobs counted or performed. ``job`` is the job that
    ``assert_enqueued_with`` or ``assert_performed_with`` matched.
    """

    jobs: list[RecordedJob] = field(default_factory=list)
    job: Job | None = None


class JobTestHelper:
    """The assertions of Rails' ActiveJob::TestHelper, over one TestAdapter.

    The ``activejob`` pytest fixture returns one, and ActiveJobTestMixin
    offers the same methods on the test case. Each helper that takes a
    block in Rails works both ways::

        activejob.assert_enqueued_jobs(1)          # the jobs enqueued so far
        with activejob.assert_enqueued_jobs(1):    # the jobs enqueued inside the block
            SignUpMailJob.perform_later(user.id)

    Write the ``with`` form directly as the ``with`` statement's expression.
    A call in any other place, such as ``ExitStack.enter_context(...)``,
    is a plain call and checks at once (``calls.py`` explains how the two
    forms are distinguished).

    ``only`` and ``except_`` take a Job subclass, a list of them or a
    callable that receives the RecordedJob; ``queue`` takes a queue name.
    The ``*_with`` helpers take values or callables that receive the
    recorded value and return True on a match.
    """

    def __init__(self, adapter: TestAdapter) -> None:
        self.adapter = adapter

    @property
    def enqueued_jobs(self) -> list[RecordedJob]:
        """The jobs waiting to be performed, oldest first; ``.clear()`` empties it."""
        return self.adapter.enqueued_jobs

    @property
    def performed_jobs(self) -> list[RecordedJob]:
        """The jobs performed so far, oldest first; ``.clear()`` empties it."""
        return self.adapter.performed_jobs

    # Enqueued jobs

    def assert_enqueued_jobs(
        self,
        number: int,
        *,
        only: JobFilter | None = None,
        except_: JobFilter | None = None,
        queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        """Assert that ``number`` selected jobs are waiting, or, as a ``with``, were enqueued in the block.

        The block form counts every enqueue inside the block, including
        jobs that were performed at once or later in the block.
        """
        _check_number(number)
        selection = JobSelection(only=only, except_=except_, queue=queue)
        if called_in_with_statement():
            return self._count_block(number, selection, _ENQUEUED_IN_BLOCK, perform=False)
        __tracebackhide__ = True
        _check_count(number, self.adapter.enqueued_jobs, selection, _ENQUEUED)
        return None

    def assert_no_enqueued_jobs(
        self,
        *,
        only: JobFilter | None = None,
        except_: JobFilter | None = None,
        queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        """Assert that no selected job is waiting, or, as a ``with``, was enqueued in the block."""
        __tracebackhide__ = True
        return self.assert_enqueued_jobs(0, only=only, except_=except_, queue=queue)

    def assert_enqueued_with(
        self,
        *,
        job: Any = None,
        args: Any = None,
        kwargs: Any = None,
        queue: Any = None,
        priority: Any = None,
        at: Any = None,
    ) -> Job | contextlib.AbstractContextManager[BlockResult]:
        """Assert that a waiting job, or, as a ``with``, a job enqueued in the block, matches; return it.

        The returned job is rebuilt from the payload with its arguments
        loaded. The ``with`` form puts it in the BlockResult's ``job``.
        ``at`` matches a run time within one second of it.
        """
        expected = Expectation(job=job, args=args, kwargs=kwargs, queue=queue, priority=priority, at=at)
        if called_in_with_statement():
            return self._match_block(expected, _ENQUEUED_IN_BLOCK, perform=False)
        __tracebackhide__ = True
        return _find_match(expected, self.adapter.enqueued_jobs, _ENQUEUED).deserialize()

    # Performed jobs

    def assert_performed_jobs(
        self,
        number: int,
        *,
        only: JobFilter | None = None,
        except_: JobFilter | None = None,
        queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        """Assert that ``number`` selected jobs were performed, or, as a ``with``, in the block.

        The block form performs the selected jobs enqueued inside the block,
        as ``perform_enqueued_jobs`` does, and counts those performed.
        """
        _check_number(number)
        selection = JobSelection(only=only, except_=except_, queue=queue)
        if called_in_with_statement():
            return self._count_block(number, selection, _PERFORMED_IN_BLOCK, perform=True)
        __tracebackhide__ = True
        _check_count(number, self.adapter.performed_jobs, selection, _PERFORMED)
        return None

    def assert_no_performed_jobs(
        self,
        *,
        only: JobFilter | None = None,
        except_: JobFilter | None = None,
        queue: str | None = None,
    ) -> contextlib.AbstractContextManager[BlockResult] | None:
        """Assert that no selected job was performed, or, as a ``with``, that the block performs none."""
        __tracebackhide__ = True
        return self.assert_performed_jobs(0, only=only, except_=except_, queue=queue)

    def assert_performed_with(
        self,
        *,
        job: Any = None,
        args: Any = None,
        kwargs: Any = None,
        queue: Any = None,
        priority: Any = None,
        at: Any = None,
    ) -> Job | contextlib.AbstractContextManager[BlockResult]:
        """Assert that a performed job matches, or, as a ``with``, a job performed in the block; return it.

        The block form performs the jobs enqueued inside the block. Takes
        the same criteria as ``assert_enqueued_with``.
        """
        expected = Expectation(job=job, args=args, kwargs=kwargs, queue=queue, priority=priority, at=at)
        if called_in_with_statement():
            return self._match_block(expected, _PERFORMED_IN_BLOCK, perform=True)
        __tracebackhide__ = True
        return _find_match(expected, self.adapter.performed_jobs, _PERFORMED).deserialize()

    # Performing

    def perform_enqueued_jobs(
        self,
        *,
        only: JobFilter | None = None,
        except_: JobFilter | None = None,
        queue: str | None = None,
        at: datetime.datetime | None = None,
    ) -> int | contextlib.AbstractContextManager[BlockResult]:
        """Perform the selected waiting jobs, or, as a ``with``, the jobs the block enqueues, as they come.

        The plain call returns how many jobs ran. It also performs the jobs
        that those jobs enqueue, such as retries, until no selected job is
        waiting. ``at`` selects jobs that run as soon as possible and jobs
        scheduled at or before it. The ``with`` form leaves the jobs
        enqueued before the block waiting. An exception from a job's
        ``perform`` propagates.
        """
        selection = JobSelection(only=only, except_=except_, queue=queue, at=at)
        if called_in_with_statement():
            return self._perform_block(selection)
        return self.adapter.perform_matching(selection)

    # Blocks

    @contextlib.contextmanager
    def _count_block(
        self, number: int, selection: JobSelection, noun: _Noun, *, perform: bool
    ) -> Iterator[BlockResult]:
        result = BlockResult()
        with self.adapter.watch() as watch, self._performing(selection if perform else None):
            yield result
        __tracebackhide__ = True
        seen = watch.performed if perform else watch.enqueued
        result.jobs = _check_count(number, seen, selection, noun)

    @contextlib.contextmanager
    def _match_block(self, expected: Expectation, noun: _Noun, *, perform: bool) -> Iterator[BlockResult]:
        result = BlockResult()
        with self.adapter.watch() as watch, self._performing(JobSelection() if perform else None):
            yield result
        __tracebackhide__ = True
        seen = watch.performed if perform else watch.enqueued
        match = _find_match(expected, seen, noun)
        result.jobs = [match]
        result.job = match.deserialize()

    @contextlib.contextmanager
    def _perform_block(self, selection: JobSelection) -> Iterator[BlockResult]:
        result = BlockResult()
        with self.adapter.watch() as watch, self._performing(selection):
            try:
                yield result
            finally:
                result.jobs = list(watch.performed)

    @contextlib.contextmanager
    def _performing(self, selection: JobSelection | None) -> Iterator[None]:
        """Make the adapter perform the selected jobs as they are enqueued; None changes nothing."""
        if selection is None:
            yield
            return
        adapter = self.adapter
        saved = (
            adapter.perform_enqueued_jobs, adapter.perform_enqueued_at_jobs,
            adapter.only, adapter.except_, adapter.queue, adapter.at,
        )
        adapter.perform_enqueued_jobs = adapter.perform_enqueued_at_jobs = True
        adapter.only, adapter.except_ = selection.only, selection.except_
        adapter.queue, adapter.at = selection.queue, selection.at
        try:
            yield
        finally:
            (
                adapter.perform_enqueued_jobs, adapter.perform_enqueued_at_jobs,
                adapter.only, adapter.except_, adapter.queue, adapter.at,
            ) = saved


# Expected values


class Expectation:
    """The criteria of ``assert_enqueued_with`` and ``assert_performed_with``; None means any value."""

    FIELDS = ("job", "args", "kwargs", "queue", "priority", "at")

    def __init__(self, **criteria: Any) -> None:
        self.criteria = {name: value for name, value in criteria.items() if value is not None}
        _check_criteria(self.criteria)

    def mismatches(self, record: RecordedJob) -> list[str]:
        """Return the names of the criteria that ``record`` fails, in FIELDS order."""
        return [
            name for name in self.FIELDS
            if name in self.criteria and not _criterion_matches(name, self.criteria[name], record)
        ]

    def describe(self) -> str:
        if not self.criteria:
            return "any job"
        return ", ".join(f"{name}={_describe_value(value)}" for name, value in self.criteria.items())


def _check_criteria(criteria: dict[str, Any]) -> None:
    from ..job import Job

    expected_types: dict[str, tuple[tuple[type, ...], str]] = {
        "job": ((type,), "a Job subclass"),
        "args": ((list, tuple), "a list of positional arguments"),
        "kwargs": ((dict,), "a dict of keyword arguments"),
        "queue": ((str,), "a queue name"),
        "priority": ((int,), "an int"),
        "at": ((datetime.datetime,), "a datetime"),
    }
    for name, value in criteria.items():
        types, description = expected_types[name]
        if name == "job" and isinstance(value, type):
            valid = issubclass(value, Job)
        else:
            valid = isinstance(value, types) or callable(value)
        if valid:
            continue
        raise TypeError(
            f"{name}={value!r} is invalid: pass {description}, or a callable that takes the "
            f"recorded value and returns True on a match."
        )


def _criterion_matches(name: str, expected: Any, record: RecordedJob) -> bool:
    actual = {
        "job": lambda: record.job_class,
        "args": lambda: record.args,
        "kwargs": lambda: record.kwargs,
        "queue": lambda: record.queue,
        "priority": lambda: record.priority,
        "at": lambda: record.at,
    }[name]()
    if name == "job" and isinstance(expected, type):
        return actual is expected
    if callable(expected):
        return bool(expected(actual))
    if name == "args":
        return list(expected) == actual
    if name == "at":
        return actual is not None and abs(as_aware(actual) - as_aware(expected)) <= AT_TOLERANCE
    return expected == actual


def _describe_value(value: Any) -> str:
    if isinstance(value, type) or callable(value):
        return describe_filter(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value)


# Failure messages


@dataclass(frozen=True)
class _Noun:
    """The words that failure messages use for one group of recorded jobs."""

    adjective: str  # "enqueued ", or "" when the qualifier contains it
    qualifier: str  # " enqueued in the block", or ""
    heading: str  # the heading of the list of these jobs
    empty: str  # the sentence for no such jobs

    def count(self, number: int) -> str:
        return f"{number} {self.adjective}job{'' if number == 1 else 's'}{self.qualifier}"

    def one(self) -> str:
        return f"{self.adjective}job{self.qualifier}"


_ENQUEUED = _Noun("enqueued ", "", "Enqueued jobs", "There are no enqueued jobs.")
_ENQUEUED_IN_BLOCK = _Noun(
    "", " enqueued in the block", "Jobs enqueued in the block", "No jobs were enqueued in the block."
)
_PERFORMED = _Noun("performed ", "", "Performed jobs", "There are no performed jobs.")
_PERFORMED_IN_BLOCK = _Noun(
    "", " performed in the block", "Jobs performed in the block", "No jobs were performed in the block."
)


def _check_number(number: Any) -> None:
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"The expected number of jobs {number!r} is invalid: pass an int of 0 or more.")
    if number < 0:
        raise ValueError(f"The expected number of jobs {number!r} is invalid: pass an int of 0 or more.")


def _check_count(
    number: int, records: list[RecordedJob], selection: JobSelection, noun: _Noun
) -> list[RecordedJob]:
    """Return the records that ``selection`` selects, or raise AssertionError unless there are ``number``."""
    __tracebackhide__ = True
    counted = [record for record in records if selection.matches(record)]
    if len(counted) == number:
        return counted

    others = [record for record in records if record not in counted]
    filters = selection.describe()
    heading = f"Expected {noun.count(number)}{' matching ' + filters if filters else ''}, got {len(counted)}"
    lines = [heading + (":" if counted else ".")]
    lines += [f"  {record.describe()}" for record in counted]
    if others:
        lines.append(f"Other {noun.heading[0].lower()}{noun.heading[1:]}:")
        lines += [f"  {record.describe()}" for record in others]
    raise AssertionError("\n".join(lines))


def _find_match(expected: Expectation, records: list[RecordedJob], noun: _Noun) -> RecordedJob:
    """Return the first record that meets every criterion, or raise AssertionError listing the others."""
    __tracebackhide__ = True
    described: list[str] = []
    for record in records:
        mismatches = expected.mismatches(record)
        if not mismatches:
            return record
        described.append(f"  {record.describe()} (differs in {', '.join(mismatches)})")

    heading = f"No {noun.one()} matches {expected.describe()}."
    if not described:
        raise AssertionError(f"{heading} {noun.empty}")
    raise AssertionError("\n".join([f"{heading} {noun.heading}:", *described]))


__all__ = ["AT_TOLERANCE", "BlockResult", "Expectation", "JobTestHelper"]
