"""``retry_on``, ``discard_on`` and ``rescue_from``: what a job does when perform raises.

    @retry_on(SMTPException, wait="polynomially_longer", attempts=10)
    @discard_on(RecordNotFoundDeserializationError)
    class InvoiceMailJob(Job):
        @rescue_from(QuotaExceeded)
        def postpone(self, exception):
            ...

When ``perform`` raises, the handler declared last whose exceptions match
runs: class decorators count as declared after the methods of the class
body, and the decorator written highest is applied last. A subclass's
handlers are checked before its parents'. An exception that no handler
takes leaves ``perform_now`` and reaches the queue adapter. So does one that
a ``retry_on`` without a handler raises again once its attempts are used up.
The database worker then retries it on its own schedule (``attempts**4 + 5``
seconds, up to ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import callbacks, signals
from .exceptions import UnsupportedFeatureError
from .queues import validate_priority, validate_queue_name

if TYPE_CHECKING:
    from .job import Job

#: The attribute rescue_from sets on a method.
MARKER = "_activejob_rescue_from"

#: Rails' default jitter: up to 15 % is added to each retry wait.
DEFAULT_JITTER = 0.15

Wait = float | int | datetime.timedelta | str | Callable[[int], Any]


def _exception_types(exceptions: tuple) -> tuple[type[BaseException], ...]:
    if not exceptions:
        raise TypeError("Pass at least one exception class.")
    for exception in exceptions:
        if not (isinstance(exception, type) and issubclass(exception, Exception)):
            raise TypeError(f"{exception!r} is not an Exception subclass.")
    return tuple(exceptions)


def _names(exceptions: tuple[type[BaseException], ...]) -> str:
    return ",".join(f"{e.__module__}.{e.__qualname__}" for e in exceptions)


@dataclass
class RescueHandler:
    """Call a method of the job with the exception; the exception counts as handled."""

    exceptions: tuple[type[BaseException], ...]
    method_name: str

    def handle(self, job: Job, exception: Exception) -> None:
        getattr(job, self.method_name)(exception)


@dataclass
class DiscardHandler:
    """Drop the job, then call ``handler(job, exception)`` if given."""

    exceptions: tuple[type[BaseException], ...]
    handler: Callable[[Job, Exception], Any] | None = None

    def handle(self, job: Job, exception: Exception) -> None:
        signals.emit(signals.job_discarded, job, exception=exception)
        if self.handler is not None:
            self.handler(job, exception)
        callbacks.run_after_discard(job, exception)


@dataclass
class RetryHandler:
    """Enqueue the job again after a wait, until ``attempts`` executions have failed."""

    exceptions: tuple[type[BaseException], ...]
    wait: Wait = 3
    attempts: int | float = 5
    queue: str | None = None
    priority: int | None = None
    jitter: float = DEFAULT_JITTER
    handler: Callable[[Job, Exception], Any] | None = None
    key: str = field(init=False)

    def __post_init__(self) -> None:
        # Counts per declaration live in the payload under this key, so they
        # survive the trip through the queue.
        self.key = f"retry_on:{_names(self.exceptions)}"

    def handle(self, job: Job, exception: Exception) -> None:
        executions = job.exception_executions.get(self.key, 0) + 1
        job.exception_executions[self.key] = executions
        if executions < self.attempts:
            wait = self.delay(executions)
            adapter = job.adapter()
            if wait and not adapter.supports_scheduling:
                raise UnsupportedFeatureError(
                    f"{type(job).__name__} has retry_on({_names(self.exceptions)}) with a wait of "
                    f"{wait.total_seconds():.3g} s, but the {adapter.name} adapter can't schedule "
                    f"the retry. Pass retry_on(..., wait=0), or use the database adapter."
                ) from exception
            signals.emit(signals.job_retry_scheduled, job, exception=exception, wait=wait)
            job.retry_job(wait=wait, queue=self.queue, priority=self.priority)
            return

        signals.emit(signals.job_retry_stopped, job, exception=exception)
        callbacks.run_after_discard(job, exception)
        if self.handler is None:
            raise exception
        self.handler(job, exception)

    def delay(self, executions: int) -> datetime.timedelta:
        """Return the wait before the next execution.

        ``"polynomially_longer"`` waits ``executions**4 + 2`` seconds plus up
        to ``jitter`` of ``executions**4`` at random: 3 to 3.15 s after the
        first failure, 18 to 20.4 s after the second, 83 to 95.15 s after the
        third. A number or timedelta waits that long plus up to ``jitter`` of
        it. A callable receives the count and returns seconds or a timedelta.
        """
        if self.wait == "polynomially_longer":
            base = executions**4
            return datetime.timedelta(seconds=base + base * self.jitter * random.random() + 2)
        if callable(self.wait):
            result = self.wait(executions)
            return result if isinstance(result, datetime.timedelta) else datetime.timedelta(seconds=result)
        seconds = self.wait.total_seconds() if isinstance(self.wait, datetime.timedelta) else self.wait
        return datetime.timedelta(seconds=seconds + seconds * self.jitter * random.random())


def _validate_handler(declaration: str, handler: Any) -> None:
    if handler is not None and not callable(handler):
        raise TypeError(
            f"{declaration}(handler={handler!r}) is invalid: pass a callable that takes "
            f"(job, exception), or None."
        )


def _validate_retry(wait: Any, attempts: Any, jitter: Any) -> int | float:
    if attempts == "unlimited":
        attempts = float("inf")
    elif isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts={attempts!r} is invalid: pass an int of 1 or more, or 'unlimited'.")
    valid_wait = (
        wait == "polynomially_longer"
        or callable(wait)
        or isinstance(wait, datetime.timedelta)
        or (isinstance(wait, (int, float)) and not isinstance(wait, bool) and wait >= 0)
    )
    if not valid_wait:
        raise ValueError(
            f"wait={wait!r} is invalid: pass seconds (0 or more), a timedelta, 'polynomially_longer' "
            f"or a callable that takes the execution count."
        )
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or jitter < 0:
        raise ValueError(f"jitter={jitter!r} is invalid: pass a fraction of 0 or more, such as 0.15.")
    return attempts


def retry_on(
    *exceptions: type[Exception],
    wait: Wait = 3,
    attempts: int | str = 5,
    queue: str | None = None,
    priority: int | None = None,
    jitter: float = DEFAULT_JITTER,
    handler: Callable[[Job, Exception], Any] | None = None,
) -> Callable[[type], type]:
    """Class decorator: retry the job when perform raises one of ``exceptions``.

    ``attempts`` counts executions including the first, so ``attempts=3``
    performs at most three times (two retries); ``"unlimited"`` never stops.
    Each declaration counts its own executions. When the attempts are used
    up, ``handler(job, exception)`` runs if given. Without a handler the
    exception is raised again for the queue adapter, and the database
    worker applies its own retries.

    ``wait`` is seconds, a timedelta, ``"polynomially_longer"``
    (``executions**4 + 2`` seconds) or a callable of the execution count.
    ``jitter`` adds up to that fraction of the wait at random, so many
    failed jobs don't all retry at once. ``queue`` and ``priority`` apply to
    the retried job.

    Example: with ``@retry_on(TimeoutError, wait="polynomially_longer",
    attempts=3)``, a job that always times out runs, waits about 3 s, runs,
    waits about 18 s, runs, and then raises TimeoutError to the worker.
    """
    types = _exception_types(exceptions)
    attempts_limit = _validate_retry(wait, attempts, jitter)
    if queue is not None:
        validate_queue_name(queue)
    if priority is not None:
        validate_priority(priority)
    _validate_handler("retry_on", handler)
    declaration = RetryHandler(types, wait, attempts_limit, queue, priority, jitter, handler)
    return _add_handler(declaration)


def discard_on(
    *exceptions: type[Exception], handler: Callable[[Job, Exception], Any] | None = None
) -> Callable[[type], type]:
    """Class decorator: drop the job without a retry when perform raises one of ``exceptions``.

    ``handler(job, exception)`` runs first if given, then the ``after_discard``
    callbacks. The worker deletes the row as if the job had succeeded.
    """
    types = _exception_types(exceptions)
    _validate_handler("discard_on", handler)
    return _add_handler(DiscardHandler(types, handler))


def rescue_from(*exceptions: type[Exception]) -> Callable[[Callable], Callable]:
    """Method decorator: call this method with the exception when perform raises one of them.

    The exception then counts as handled. Raise inside the method to let it
    reach the queue adapter after all.
    """
    types = _exception_types(exceptions)

    def decorate(method: Callable) -> Callable:
        setattr(method, MARKER, types)
        return method

    return decorate


def _add_handler(declaration: Any) -> Callable[[type], type]:
    def decorate(job_class: type) -> type:
        from .job import Job

        if not (isinstance(job_class, type) and issubclass(job_class, Job)):
            raise TypeError(f"{job_class!r} is not a Job subclass; decorate a Job class.")
        job_class._rescue_handlers = [*job_class.__dict__.get("_rescue_handlers", []), declaration]
        return job_class

    return decorate


def collect_methods(job_class: type) -> list[RescueHandler]:
    """Return the rescue_from handlers declared in ``job_class``'s own body, in order."""
    return [
        RescueHandler(getattr(value, MARKER), name)
        for name, value in vars(job_class).items()
        if hasattr(value, MARKER)
    ]


def find_handler(job_class: type, exception: BaseException) -> Any:
    """Return the handler for ``exception``: the latest declaration first, subclasses before parents."""
    for klass in job_class.__mro__:
        for declaration in reversed(klass.__dict__.get("_rescue_handlers", [])):
            if isinstance(exception, declaration.exceptions):
                return declaration
    return None
