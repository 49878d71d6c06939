"""Callbacks around enqueue and perform, declared with decorators on Job methods.

    class AuditedJob(Job):
        @before_enqueue
        def check_quota(self):
            if over_quota(self.arguments[0]):
                raise Abort()          # nothing is enqueued

        @around_perform
        def timed(self, perform):
            started = time.monotonic()
            perform()
            metrics.timing("job", time.monotonic() - started)

        @after_discard
        def notify(self, exception):
            ...

Order: callbacks of a parent class run before those of a subclass, and
callbacks of one class in the order they are written. ``before`` and
``around`` callbacks run in that order, and each ``around`` wraps the rest.
``after`` callbacks run in reverse, so the whole chain nests like ``with``
blocks. A ``before`` callback halts the chain by raising Abort; an
``around`` callback halts it by returning without calling its argument.
``after`` callbacks run only when the wrapped step ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .job import Job

#: The attribute a decorator sets on a function: (stage, event).
MARKER = "_activejob_callback"

STAGES = ("before", "around", "after")
EVENTS = ("enqueue", "perform")


class Abort(Exception):
    """Raised by a ``before_enqueue`` or ``before_perform`` callback to halt the chain."""


def _marker(stage: str, event: str) -> Callable[[Callable], Callable]:
    def decorate(function: Callable) -> Callable:
        setattr(function, MARKER, (stage, event))
        return function

    decorate.__name__ = f"{stage}_{event}"
    decorate.__doc__ = f"Mark a Job method to run {stage} each {event}."
    return decorate


before_enqueue = _marker("before", "enqueue")
around_enqueue = _marker("around", "enqueue")
after_enqueue = _marker("after", "enqueue")
before_perform = _marker("before", "perform")
around_perform = _marker("around", "perform")
after_perform = _marker("after", "perform")
after_discard = _marker("after", "discard")


def collect(job_class: type) -> dict[tuple[str, str], list[str]]:
    """Return the method names of each (stage, event) for ``job_class``, parents first."""
    collected: dict[tuple[str, str], list[str]] = {}
    for klass in reversed(job_class.__mro__):
        for name, value in vars(klass).items():
            key = getattr(value, MARKER, None)
            if key is None:
                continue
            names = collected.setdefault(key, [])
            if name not in names:
                names.append(name)
    return collected


def run(job: Job, event: str, step: Callable[[], Any]) -> tuple[bool, Any]:
    """Run ``step`` inside the job's callbacks for ``event``.

    Returns ``(True, step's result)`` when the step ran, or ``(False, None)``
    when a callback halted the chain.
    """
    names = type(job)._callbacks
    befores = [getattr(job, name) for name in names.get(("before", event), [])]
    arounds = [getattr(job, name) for name in names.get(("around", event), [])]
    afters = [getattr(job, name) for name in names.get(("after", event), [])]

    for callback in befores:
        try:
            callback()
        except Abort:
            return False, None

    outcome: dict[str, Any] = {}

    def innermost() -> None:
        outcome["result"] = step()

    chain = innermost
    for callback in reversed(arounds):
        chain = _wrap(callback, chain)
    chain()
    if "result" not in outcome:
        return False, None

    for callback in reversed(afters):
        callback()
    return True, outcome["result"]


def _wrap(callback: Callable[[Callable[[], None]], Any], inner: Callable[[], None]) -> Callable[[], None]:
    def call() -> None:
        callback(inner)

    return call


def run_after_discard(job: Job, exception: BaseException) -> None:
    """Run the job's ``after_discard`` callbacks with the exception that ended it."""
    for name in reversed(type(job)._callbacks.get(("after", "discard"), [])):
        getattr(job, name)(exception)
