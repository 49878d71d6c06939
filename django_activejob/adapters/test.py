"""The test adapter: record enqueued jobs for assertions, and perform them on request.

Every job goes through the same JSON round trip as on the database adapter,
so an argument that can't be stored fails at ``perform_later`` in tests too.
``django_activejob.testing`` switches each test to a fresh TestAdapter and
adds Rails' assertions (``assert_enqueued_jobs`` and the rest) on top.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone

from ..serialization import deserialize_arguments
from .base import QueueAdapter
from .database import encode_payload

if TYPE_CHECKING:
    from ..job import Job

#: Arguments longer than this many characters are cut in failure messages.
MAX_DESCRIBED_ARGUMENTS = 300


@dataclass(eq=False)
class RecordedJob:
    """One job as the test adapter received it.

    ``payload`` is the job's serialized form after a JSON round trip: what
    the database adapter would store. ``args`` and ``kwargs`` are loaded
    from it on first use, so recording a job runs no database query even
    when an argument is a model instance. ``at`` is the scheduled run time
    (aware), or None for a job that runs as soon as possible.
    """

    job_class: type[Job]
    queue: str
    priority: int
    at: datetime.datetime | None
    payload: dict[str, Any]

    @property
    def job_id(self) -> uuid.UUID:
        return uuid.UUID(self.payload["job_id"])

    @functools.cached_property
    def _arguments(self) -> tuple[list[Any], dict[str, Any]]:
        return deserialize_arguments(copy.deepcopy(self.payload["arguments"]))

    @property
    def args(self) -> list[Any]:
        """The positional arguments, loaded from the payload."""
        return self._arguments[0]

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments, loaded from the payload."""
        return self._arguments[1]

    def instantiate(self) -> Job:
        """Build a new job from the payload, as a worker does; its arguments load when it performs."""
        from ..job import Job

        return Job.instantiate(copy.deepcopy(self.payload))

    def deserialize(self) -> Job:
        """Build a new job from the payload with its arguments loaded, as ``Job.deserialize`` does."""
        from ..job import Job

        return Job.deserialize(copy.deepcopy(self.payload))

    def describe(self) -> str:
        """Return a one-line summary for failure messages, such as ``NoopJob(1) queue=default priority=0``."""
        text = f"{self.job_class.__name__}({self._describe_arguments()})"
        text += f" queue={self.queue} priority={self.priority}"
        if self.at is not None:
            text += f" at={self.at.isoformat()}"
        return text

    def _describe_arguments(self) -> str:
        try:
            parts = [repr(value) for value in self.args]
            parts += [f"{name}={value!r}" for name, value in self.kwargs.items()]
            text = ", ".join(parts)
        except Exception:
            # A failure message must still appear when an argument can't be
            # loaded (a deleted row, no database access), so show the stored form.
            text = "serialized: " + json.dumps(self.payload["arguments"])
        if len(text) > MAX_DESCRIBED_ARGUMENTS:
            text = text[:MAX_DESCRIBED_ARGUMENTS] + "...[truncated]"
        return text

    def __repr__(self) -> str:
        return f"<RecordedJob {self.describe()}>"


JobFilter = type | Iterable[type] | Callable[[RecordedJob], Any]


@dataclass(frozen=True)
class JobSelection:
    """Which recorded jobs a helper counts or performs.

    ``only`` and ``except_`` take a Job subclass, a list of them (matched
    by exact class, as in Rails) or a callable that receives the
    RecordedJob and returns True for a match. ``queue`` is compared with
    the stored queue name, prefix included. ``at`` keeps jobs that run as
    soon as possible and jobs scheduled at or before it.
    """

    only: JobFilter | None = None
    except_: JobFilter | None = None
    queue: str | None = None
    at: datetime.datetime | None = None
    _only: Callable[[RecordedJob], Any] | None = field(init=False, repr=False, compare=False, default=None)
    _except: Callable[[RecordedJob], Any] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.only is not None and self.except_ is not None:
            raise ValueError(
                f"Pass only= or except_=, not both (got only={self.only!r}, except_={self.except_!r})."
            )
        object.__setattr__(self, "_only", _as_predicate("only", self.only))
        object.__setattr__(self, "_except", _as_predicate("except_", self.except_))
        if self.queue is not None and not isinstance(self.queue, str):
            raise TypeError(f"queue={self.queue!r} is invalid: pass a queue name (str).")
        if self.at is not None:
            if not isinstance(self.at, datetime.datetime):
                raise TypeError(f"at={self.at!r} is invalid: pass a datetime.")
            object.__setattr__(self, "at", as_aware(self.at))

    def matches(self, record: RecordedJob) -> bool:
        if self._only is not None and not self._only(record):
            return False
        if self._except is not None and self._except(record):
            return False
        if self.queue is not None and record.queue != self.queue:
            return False
        if self.at is not None and record.at is not None and as_aware(record.at) > self.at:
            return False
        return True

    def describe(self) -> str:
        """Return the filters as ``only=NoopJob, queue='mail'``, or "" when there are none."""
        parts = []
        if self.only is not None:
            parts.append(f"only={describe_filter(self.only)}")
        if self.except_ is not None:
            parts.append(f"except_={describe_filter(self.except_)}")
        if self.queue is not None:
            parts.append(f"queue={self.queue!r}")
        if self.at is not None:
            parts.append(f"at={self.at.isoformat()}")
        return ", ".join(parts)


def _as_predicate(name: str, value: Any) -> Callable[[RecordedJob], Any] | None:
    from ..job import Job

    if value is None:
        return None
    if isinstance(value, type):
        classes: tuple[Any, ...] = (value,)
    elif isinstance(value, (list, tuple, set, frozenset)):
        # An empty list is valid: only=[] selects no job, except_=[] excludes none.
        classes = tuple(value)
    elif callable(value):
        return value
    else:
        classes = (value,)
    if not all(isinstance(item, type) and issubclass(item, Job) for item in classes):
        raise TypeError(
            f"{name}={value!r} is invalid: pass a Job subclass, a list of them, or a callable "
            f"that takes a RecordedJob and returns True for the jobs to select."
        )
    return lambda record: record.job_class in classes


def describe_filter(value: Any) -> str:
    """Return ``NoopJob``, ``[NoopJob, EchoJob]`` or a callable's name, for messages."""
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(describe_filter(item) for item in value) + "]"
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)


def as_aware(moment: datetime.datetime) -> datetime.datetime:
    """Return ``moment``, reading a naive datetime in the current time zone."""
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


@dataclass(eq=False)
class Watch:
    """The jobs enqueued and performed while a ``TestAdapter.watch()`` block ran."""

    enqueued: list[RecordedJob] = field(default_factory=list)
    performed: list[RecordedJob] = field(default_factory=list)


class TestAdapter(QueueAdapter):
    """Record enqueued jobs instead of running them, and perform them on request.

    ``enqueued_jobs`` contains the jobs waiting to be performed and
    ``performed_jobs`` the ones performed, oldest first, as RecordedJob
    instances. Clear either list with ``.clear()``.

    With ``perform_enqueued_jobs`` True, a job enqueued to run as soon as
    possible is performed at once, and with ``perform_enqueued_at_jobs``
    True so is a scheduled one, whatever its run time. Either way only jobs
    that ``only``, ``except_``, ``queue`` and ``at`` select are performed,
    and the rest wait in ``enqueued_jobs``. A job enqueued while another job
    performs, such as a retry from retry_on, runs after that job returns,
    as a worker would take it next.

    ``transaction_alias()`` returns the default alias, so a job is recorded
    at ``perform_later`` even inside ``transaction.atomic()``. Django's
    TestCase and pytest-django's ``django_db`` wrap each test in a
    transaction that never commits, and a job that waited for the commit
    would never be seen. The price is that a job which production defers
    until the commit (the inline adapter, a database adapter on another
    alias) is counted here before the commit, and even when the transaction
    rolls back. A job class or setting with
    ``enqueue_after_transaction_commit = True`` still waits for the commit.

    NOTE: the adapter takes no lock, so it assumes that one thread at a time
    enqueues and performs jobs.
    """

    # Not a test class, although the name starts with "Test".
    __test__ = False

    name = "test"

    #: Performs allowed in one perform_enqueued_jobs() call or one chain of jobs
    #: that enqueue each other. A job that retries forever (retry_on with
    #: attempts="unlimited" and a persistent error) hits it instead of hanging the test.
    max_performs = 10_000

    def __init__(self) -> None:
        self.enqueued_jobs: list[RecordedJob] = []
        self.performed_jobs: list[RecordedJob] = []
        self.perform_enqueued_jobs = False
        self.perform_enqueued_at_jobs = False
        self.only: JobFilter | None = None
        self.except_: JobFilter | None = None
        self.queue: str | None = None
        self.at: datetime.datetime | None = None
        self._watches: list[Watch] = []
        self._pending: deque[RecordedJob] = deque()
        self._performing = False

    def transaction_alias(self) -> str | None:
        return DEFAULT_DB_ALIAS

    # Enqueueing

    def enqueue(self, job: Job) -> None:
        record = self._record(job, at=None)
        if self.perform_enqueued_jobs and self._selection().matches(record):
            self.perform([record])

    def enqueue_at(self, job: Job, run_at: datetime.datetime) -> None:
        record = self._record(job, at=run_at)
        if self.perform_enqueued_at_jobs and self._selection().matches(record):
            self.perform([record])

    def enqueue_all(self, jobs: list[Job]) -> None:
        """Record every job first, then perform the selected ones, so one failure loses no record."""
        due = []
        for job in jobs:
            record = self._record(job, at=job.scheduled_at)
            flag = self.perform_enqueued_jobs if record.at is None else self.perform_enqueued_at_jobs
            if flag and self._selection().matches(record):
                due.append(record)
        if due:
            self.perform(due)

    def _record(self, job: Job, at: datetime.datetime | None) -> RecordedJob:
        payload = json.loads(encode_payload(job.serialize()))
        record = RecordedJob(
            job_class=type(job), queue=job.queue_name, priority=job.priority, at=at, payload=payload
        )
        self.enqueued_jobs.append(record)
        for watch in self._watches:
            watch.enqueued.append(record)
        return record

    def _selection(self) -> JobSelection:
        return JobSelection(only=self.only, except_=self.except_, queue=self.queue, at=self.at)

    # Performing

    def perform(self, records: Iterable[RecordedJob]) -> int:
        """Perform ``records`` in order and return how many jobs ran, counting jobs they enqueue.

        Each job is moved from ``enqueued_jobs`` to ``performed_jobs`` and
        built afresh from its payload, as a worker builds it. Jobs enqueued
        while one performs, and selected for performing at enqueue, run
        after it. Called while a job performs, it only queues ``records``
        behind the running one and returns 0. An exception from ``perform``
        propagates, and the jobs still queued stay in ``enqueued_jobs``.
        """
        self._pending.extend(records)
        if self._performing:
            return 0
        self._performing = True
        count = 0
        try:
            while self._pending:
                count += 1
                self._check_limit(count)
                self._perform_one(self._pending.popleft())
        finally:
            self._performing = False
            self._pending.clear()
        return count

    def perform_matching(self, selection: JobSelection) -> int:
        """Perform the enqueued jobs that ``selection`` selects, and those they enqueue, until none remain.

        Returns how many jobs ran. Raises RuntimeError when called from
        inside a job's ``perform``.
        """
        if self._performing:
            raise RuntimeError(
                "perform_enqueued_jobs() was called while a job performs; call it from the test instead."
            )
        count = 0
        while True:
            batch = [record for record in self.enqueued_jobs if selection.matches(record)]
            if not batch:
                return count
            self._check_limit(count + len(batch))
            count += self.perform(batch)

    def _perform_one(self, record: RecordedJob) -> None:
        with contextlib.suppress(ValueError):
            # The test may have cleared enqueued_jobs in the meantime.
            self.enqueued_jobs.remove(record)
        self.performed_jobs.append(record)
        for watch in self._watches:
            watch.performed.append(record)
        job = record.instantiate()
        job.adapter_name = self.name
        job.perform_now()

    def _check_limit(self, count: int) -> None:
        if count > self.max_performs:
            raise RuntimeError(
                f"The test adapter performed {self.max_performs} jobs in one run and more are "
                f"still enqueued; a job probably enqueues itself forever, such as a retry_on with "
                f"attempts='unlimited'. Raise TestAdapter.max_performs if the jobs are expected."
            )

    # Observing

    @contextlib.contextmanager
    def watch(self) -> Iterator[Watch]:
        """Collect the jobs enqueued and performed inside the block, whatever happens to them later."""
        watch = Watch()
        self._watches.append(watch)
        try:
            yield watch
        finally:
            self._watches.remove(watch)
