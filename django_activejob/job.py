"""The Job base class: define ``perform``, then enqueue with ``perform_later``."""

from __future__ import annotations

import contextlib
import datetime
import functools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone, translation

from . import callbacks, conf, registry, rescue, signals
from .adapters import QueueAdapter, current_adapter
from .exceptions import InvalidPayloadError
from .queues import prefixed_queue_name, validate_priority, validate_queue_name
from .scheduling import check_scheduling, run_time
from .serialization import deserialize_arguments, serialize_arguments

#: Bumped when the payload layout changes in a way older workers can't read.
PAYLOAD_VERSION = 1


class _ClassOrInstanceMethod:
    """Call one function on the class and another on an instance."""

    def __init__(self, on_class: Callable, on_instance: Callable) -> None:
        self.on_class = on_class
        self.on_instance = on_instance
        functools.update_wrapper(self, on_class)

    def __get__(self, instance: Any, owner: type) -> Callable:
        if instance is None:
            return functools.partial(self.on_class, owner)
        return functools.partial(self.on_instance, instance)


class Job:
    """A unit of background work.

    Subclass it and define ``perform``::

        class SignUpConfirmationEmailJob(Job):
            queue_as = "mail"

            def perform(self, user_id):
                ...

        SignUpConfirmationEmailJob.perform_later(user.id)
        SignUpConfirmationEmailJob.set(wait=60, priority=-5).perform_later(user.id)

    Class attributes:

    ``queue_as``
        A queue name, or a callable that receives the job and returns one.
        Defaults to ``ACTIVEJOB["DEFAULT_QUEUE_NAME"]``.
    ``priority``
        Lower numbers run first, as in delayed_job. Defaults to
        ``ACTIVEJOB["DEFAULT_PRIORITY"]``.
    ``queue_adapter``
        Overrides ``ACTIVEJOB["QUEUE_ADAPTER"]`` for this class.
    ``queue_with_priority``
        A priority, or a callable that receives the job and returns one;
        takes precedence over ``priority``.
    ``max_attempts``
        Overrides the worker's ``ACTIVEJOB["MAX_ATTEMPTS"]`` for this class.
    ``max_run_time``
        Seconds (or a timedelta) one execution may take before the worker
        interrupts it; overrides ``ACTIVEJOB["MAX_RUN_TIME"]``.
    ``enqueue_after_transaction_commit``
        True or False overrides ``ACTIVEJOB["ENQUEUE_AFTER_TRANSACTION_COMMIT"]``.
    ``log_arguments``
        True or False overrides ``ACTIVEJOB["LOG_ARGUMENTS"]``; set False for
        jobs whose arguments carry secrets.
    """

    queue_as: ClassVar[str | Callable[[Job], str] | None] = None
    priority: int | None = None
    queue_with_priority: ClassVar[int | Callable[[Job], int] | None] = None
    queue_adapter: ClassVar[str | QueueAdapter | None] = None
    max_attempts: ClassVar[int | None] = None
    max_run_time: ClassVar[float | datetime.timedelta | None] = None
    enqueue_after_transaction_commit: ClassVar[bool | None] = None
    log_arguments: ClassVar[bool | None] = None

    #: Method names of each (stage, event) callback, parents first.
    _callbacks: ClassVar[dict[tuple[str, str], list[str]]] = {}
    #: retry_on, discard_on and rescue_from declarations of this class only.
    _rescue_handlers: ClassVar[list[Any]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_limits(cls)
        cls._callbacks = callbacks.collect(cls)
        cls._rescue_handlers = rescue.collect_methods(cls)
        registry.register(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._set_fields(args, kwargs, uuid.uuid4())

    def _set_fields(self, args: tuple | list, kwargs: dict[str, Any], job_id: uuid.UUID) -> None:
        """Give every attribute its initial value; instantiate() calls it with the stored job_id."""
        self.arguments: list[Any] = list(args)
        self.kwargs: dict[str, Any] = dict(kwargs)
        self.job_id: uuid.UUID = job_id
        self.queue_name: str | None = None
        # None until enqueue or perform_now resolves it from the class and settings.
        self.priority: int | None = None
        self.executions: int = 0
        #: Failed executions counted by each retry_on declaration.
        self.exception_executions: dict[str, int] = {}
        self.enqueued_at: datetime.datetime | None = None
        self.scheduled_at: datetime.datetime | None = None
        self.provider_job_id: Any = None
        self.successfully_enqueued: bool = False
        self.locale: str | None = None
        self.timezone: str | None = None
        # Arguments as stored in a payload, loaded at the start of perform_now.
        self.serialized_arguments: Any = None
        # Name of the adapter that performs this job, for log lines.
        self.adapter_name: str | None = None
        # Arguments serialized by a deferred enqueue, used by serialize().
        self._arguments_at_enqueue: dict[str, Any] | None = None
        # Options from job.set(), applied when the job is enqueued.
        self._wait: Any = None
        self._wait_until: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} job_id={self.job_id} queue={self.queue_name!r}>"

    def perform(self, *args: Any, **kwargs: Any) -> Any:
        """Do the work. Subclasses must override this."""
        raise NotImplementedError(f"{type(self).__name__} must define perform().")

    # Enqueueing

    def _set_on_class(
        cls: type[Job],
        *,
        wait: datetime.timedelta | float | None = None,
        wait_until: datetime.datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> ConfiguredJob:
        options = {"wait": wait, "wait_until": wait_until, "queue": queue, "priority": priority}
        return ConfiguredJob(cls, options)

    def _set_on_instance(
        self,
        *,
        wait: datetime.timedelta | float | None = None,
        wait_until: datetime.datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> Job:
        run_time(wait, wait_until)
        self._wait, self._wait_until = wait, wait_until
        self._apply_options(queue=queue, priority=priority)
        return self

    #: ``MyJob.set(wait=, wait_until=, queue=, priority=)`` returns a proxy
    #: whose ``perform_later`` and ``perform_now`` use these options;
    #: ``job.set(...)`` configures that job instance, for perform_all_later.
    #: ``wait`` is a timedelta or seconds from now; ``wait_until`` a datetime
    #: (aware, or naive in the current time zone). Invalid values raise here.
    set = _ClassOrInstanceMethod(_set_on_class, _set_on_instance)

    @classmethod
    def perform_later(cls, *args: Any, **kwargs: Any) -> Job:
        """Enqueue a job with these arguments and return it.

        The returned job has ``job_id`` and, once its adapter stored it,
        ``provider_job_id`` (the DelayedJob primary key for the database
        adapter). Raises SerializationError when an argument can't be stored.
        """
        return cls(*args, **kwargs).enqueue()

    def enqueue(
        self,
        *,
        wait: datetime.timedelta | float | None = None,
        wait_until: datetime.datetime | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> Job:
        """Hand this job to its queue adapter, with the same options as ``set``.

        The enqueue callbacks run around the hand-over. When the adapter
        can't write through the caller's transaction (see ``defers_enqueue``),
        all of it waits for the commit and is dropped on a rollback. Until
        then ``successfully_enqueued`` is False.
        """
        if wait is None and wait_until is None:
            wait, wait_until = self._wait, self._wait_until
        self._apply_options(queue=queue, priority=priority)
        self.scheduled_at = run_time(wait, wait_until)
        self.locale = translation.get_language()
        self.timezone = current_zone_name()

        adapter = self.adapter()
        check_scheduling(adapter, self)
        if self.defers_enqueue(adapter):
            # Serialize now: a bad argument fails in the caller, and changes to
            # the arguments before the commit don't reach the job.
            self._arguments_at_enqueue = serialize_arguments(self.arguments, self.kwargs)
            transaction.on_commit(lambda: self._enqueue_with_callbacks(adapter), using=DEFAULT_DB_ALIAS)
        else:
            self._enqueue_with_callbacks(adapter)
        return self

    def _enqueue_with_callbacks(self, adapter: QueueAdapter) -> None:
        ran, _ = callbacks.run(self, "enqueue", lambda: self._hand_to(adapter))
        if not ran:
            signals.emit(signals.job_halted, self, event="enqueue")

    def _hand_to(self, adapter: QueueAdapter) -> None:
        self.enqueued_at = timezone.now()
        if self.scheduled_at is None:
            adapter.enqueue(self)
        else:
            adapter.enqueue_at(self, self.scheduled_at)
        self.successfully_enqueued = True
        self._arguments_at_enqueue = None
        signals.emit(signals.job_enqueued, self, adapter=adapter)

    def defers_enqueue(self, adapter: QueueAdapter) -> bool:
        """Return whether enqueueing to ``adapter`` waits for the current transaction to commit.

        ``ACTIVEJOB["ENQUEUE_AFTER_TRANSACTION_COMMIT"]`` (or the class
        attribute of that name) decides: ``"auto"`` defers for adapters that
        don't write through the default database's transaction (inline,
        async, a database adapter on another alias); True always defers;
        False never does. Outside a transaction nothing waits.
        """
        if not transaction.get_connection(DEFAULT_DB_ALIAS).in_atomic_block:
            return False
        setting = type(self).enqueue_after_transaction_commit
        if setting is None:
            setting = conf.get("ENQUEUE_AFTER_TRANSACTION_COMMIT")
        if setting == "auto":
            return adapter.transaction_alias() != DEFAULT_DB_ALIAS
        return bool(setting)

    def retry_job(
        self,
        *,
        wait: datetime.timedelta | float | None = None,
        queue: str | None = None,
        priority: int | None = None,
    ) -> None:
        """Enqueue this job again, keeping its job_id and its execution counts."""
        self._wait = self._wait_until = None
        self.enqueue(wait=wait, queue=queue, priority=priority)

    def adapter(self) -> QueueAdapter:
        """Return the queue adapter this job goes to."""
        return current_adapter(type(self).queue_adapter)

    def _apply_options(self, *, queue: str | None = None, priority: int | None = None) -> None:
        if queue is not None:
            self.queue_name = prefixed_queue_name(validate_queue_name(queue))
        elif self.queue_name is None:
            self.queue_name = prefixed_queue_name(validate_queue_name(self._default_queue_name()))
        if priority is not None:
            self.priority = validate_priority(priority)
        elif self.priority is None:
            self.priority = validate_priority(self._default_priority())

    def _default_queue_name(self) -> Any:
        queue_as = type(self).queue_as
        if callable(queue_as):
            queue_as = queue_as(self)
        return queue_as if queue_as is not None else conf.get("DEFAULT_QUEUE_NAME")

    def _default_priority(self) -> Any:
        chosen = type(self).queue_with_priority
        if callable(chosen):
            return chosen(self)
        if chosen is not None:
            return chosen
        if type(self).priority is not None:
            return type(self).priority
        return conf.get("DEFAULT_PRIORITY")

    # Performing

    def _perform_now_on_class(cls: type[Job], *args: Any, **kwargs: Any) -> Any:
        job = cls(*args, **kwargs)
        job._apply_options()
        return job._perform_now_on_instance()

    def _perform_now_on_instance(self) -> Any:
        """Perform this job in the calling thread and return what perform returns.

        Arguments that are still serialized (a job from a queue) are loaded
        first, so retry_on, discard_on and rescue_from also handle a
        DeserializationError, such as a deleted model row. An exception that
        no handler takes propagates after the ``job_failed`` signal.
        """
        self.executions += 1
        started = time.perf_counter()
        try:
            with _locale(self.locale), _time_zone(self.timezone):
                outcome, result = self._perform_with_handlers()
        except BaseException as exc:
            # BaseException too, so an interrupted job (a forced worker stop,
            # Ctrl+C) still reaches the failure signal and log.
            duration = time.perf_counter() - started
            signals.emit(signals.job_failed, self, exception=exc, duration=duration)
            raise
        duration = time.perf_counter() - started
        if outcome == "performed":
            signals.emit(signals.job_performed, self, duration=duration)
        elif outcome == "halted":
            signals.emit(signals.job_halted, self, event="perform")
        return result

    def _perform_with_handlers(self) -> tuple[str, Any]:
        """Load the arguments, then run perform inside the perform callbacks, with the rescue handlers.

        Returns the outcome and perform's result. The outcome is "performed",
        "halted" (a callback stopped it) or "handled" (retry_on or discard_on
        took the exception and sent its own signal). A rescue_from method
        counts as performed, since it completed the job its own way.
        """
        try:
            self._deserialize_arguments_if_needed()
            signals.emit(signals.job_started, self)
            ran, result = callbacks.run(
                self, "perform", lambda: self.perform(*self.arguments, **self.kwargs)
            )
            return ("performed" if ran else "halted"), result
        except Exception as exc:
            handler = rescue.find_handler(type(self), exc)
            if handler is None:
                raise
            handler.handle(self, exc)
            return ("performed" if isinstance(handler, rescue.RescueHandler) else "handled"), None

    def _deserialize_arguments_if_needed(self) -> None:
        if self.serialized_arguments is not None:
            self.arguments, self.kwargs = deserialize_arguments(self.serialized_arguments)
            self.serialized_arguments = None

    #: ``MyJob.perform_now(*args)`` builds and performs a job at once;
    #: ``job.perform_now()`` performs an existing job instance.
    perform_now = _ClassOrInstanceMethod(_perform_now_on_class, _perform_now_on_instance)

    # Payload

    def serialize(self) -> dict[str, Any]:
        """Return the JSON-safe payload that a queue adapter stores."""
        return {
            "version": PAYLOAD_VERSION,
            "job_class": registry.class_path(type(self)),
            "job_id": str(self.job_id),
            "queue_name": self.queue_name,
            "priority": self.priority,
            "arguments": (
                self._arguments_at_enqueue
                if self._arguments_at_enqueue is not None
                else serialize_arguments(self.arguments, self.kwargs)
            ),
            "executions": self.executions,
            "exception_executions": self.exception_executions,
            "locale": self.locale,
            "timezone": self.timezone,
            "enqueued_at": _isoformat(self.enqueued_at),
            "scheduled_at": _isoformat(self.scheduled_at),
        }

    @staticmethod
    def deserialize(payload: Any) -> Job:
        """Rebuild a job from ``serialize()``'s output, arguments included.

        Raises InvalidPayloadError for a payload that can never be read
        (wrong shape, unknown class) and DeserializationError when an
        argument can't be rebuilt, such as a model row that was deleted.
        """
        job = Job.instantiate(payload)
        job._deserialize_arguments_if_needed()
        return job

    @staticmethod
    def instantiate(payload: Any) -> Job:
        """Rebuild a job from a payload, leaving its arguments serialized until perform_now."""
        if not isinstance(payload, dict) or "job_class" not in payload or "arguments" not in payload:
            raise InvalidPayloadError(
                f"Job payload must be a JSON object with 'job_class' and 'arguments', "
                f"not {str(payload)[:200]!r}."
            )
        version = payload.get("version", PAYLOAD_VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidPayloadError(f"Job payload version {version!r} is invalid: it must be an int.")
        if version > PAYLOAD_VERSION:
            raise InvalidPayloadError(
                f"Job payload version {version!r} is newer than this worker "
                f"reads ({PAYLOAD_VERSION}); upgrade django_activejob on the worker."
            )

        job_class = registry.lookup(str(payload["job_class"]))
        job = job_class.__new__(job_class)
        try:
            Job._set_fields(job, (), {}, uuid.UUID(payload["job_id"]))
            job.queue_name = payload.get("queue_name")
            job.priority = payload.get("priority")
            job.executions = int(payload.get("executions", 0))
            job.exception_executions = {
                str(key): int(value) for key, value in payload.get("exception_executions", {}).items()
            }
            job.locale = payload.get("locale")
            job.timezone = payload.get("timezone")
            job.serialized_arguments = payload["arguments"]
            job.enqueued_at = _parse_datetime(payload.get("enqueued_at"))
            job.scheduled_at = _parse_datetime(payload.get("scheduled_at"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidPayloadError(f"Job payload has an invalid field: {exc!r}.") from exc
        return job


class ConfiguredJob:
    """A job class with options from ``Job.set()``, ready to enqueue."""

    def __init__(self, job_class: type[Job], options: dict[str, Any]) -> None:
        self.job_class = job_class
        self.options = options
        # Validate now, so a bad option fails where set() was called.
        run_time(options["wait"], options["wait_until"])
        if options["queue"] is not None:
            validate_queue_name(options["queue"])
        if options["priority"] is not None:
            validate_priority(options["priority"])

    def __repr__(self) -> str:
        return f"<ConfiguredJob {self.job_class.__name__} {self.options}>"

    def perform_later(self, *args: Any, **kwargs: Any) -> Job:
        """Enqueue a job with these arguments and the configured options."""
        return self.job_class(*args, **kwargs).enqueue(**self.options)

    def perform_now(self, *args: Any, **kwargs: Any) -> Any:
        """Perform a job at once, with the configured queue and priority."""
        job = self.job_class(*args, **kwargs)
        job._apply_options(queue=self.options["queue"], priority=self.options["priority"])
        return job.perform_now()


def current_zone_name() -> str | None:
    """Return the active time zone as a name that ``_time_zone`` loads again.

    An IANA zone is stored by its key. A fixed offset, which has no such
    key, is stored as ``"offset:<seconds east of UTC>"``.
    """
    zone = timezone.get_current_timezone()
    key = getattr(zone, "key", None)
    if isinstance(key, str):
        return key
    offset = zone.utcoffset(None)
    if offset is None:
        return timezone.get_current_timezone_name()
    return f"offset:{int(offset.total_seconds())}"


@contextlib.contextmanager
def _locale(language: str | None) -> Iterator[None]:
    """Activate ``language`` for a block; skip the switch when it is active already.

    Switching costs more than a short job, and a worker runs job after job
    in the same language. A job that activates another language still
    leaves the one it found.
    """
    if language is None or language != translation.get_language():
        with translation.override(language):
            yield
        return
    try:
        yield
    finally:
        if translation.get_language() != language:
            translation.activate(language)


class _time_zone:
    """Activate a time zone by name for a block, or leave it as it is for None or the active zone."""

    def __init__(self, name: str | None) -> None:
        zone: Any = name
        if name and name.startswith("offset:"):
            zone = datetime.timezone(datetime.timedelta(seconds=int(name.removeprefix("offset:"))))
        self.name = name
        self.zone = zone
        # Switching costs more than a short job; a worker's jobs mostly share one zone.
        self.already_active = name is not None and name == current_zone_name()
        self.override = timezone.override(zone) if name and not self.already_active else None

    def __enter__(self) -> None:
        if self.override is not None:
            self.override.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        if self.override is not None:
            self.override.__exit__(*exc_info)
        elif self.already_active and current_zone_name() != self.name:
            # The job activated another zone; leave the one it found.
            timezone.activate(self.zone)


def _isoformat(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_datetime(value: str | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromisoformat(value)


#: The largest max_run_time a job class may set: about 31 years, as for the setting.
MAX_RUN_TIME_LIMIT = 10**9


def _check_limits(cls: type[Job]) -> None:
    """Raise TypeError at class creation for a max_attempts or max_run_time the worker can't use."""
    attempts = cls.__dict__.get("max_attempts")
    if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1):
        raise TypeError(
            f"{cls.__qualname__}.max_attempts = {attempts!r} is invalid; set it to an int of 1 or more, "
            f"or None for ACTIVEJOB['MAX_ATTEMPTS']."
        )
    run_time = cls.__dict__.get("max_run_time")
    if run_time is None:
        return
    seconds = run_time.total_seconds() if isinstance(run_time, datetime.timedelta) else run_time
    number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if not number or not 0 < seconds < MAX_RUN_TIME_LIMIT:
        raise TypeError(
            f"{cls.__qualname__}.max_run_time = {run_time!r} is invalid; set it to a number of seconds "
            f"or a timedelta, greater than 0 and less than {MAX_RUN_TIME_LIMIT} seconds, or None for "
            f"ACTIVEJOB['MAX_RUN_TIME']."
        )


def max_run_time_seconds(cls: type[Job]) -> float | None:
    """Return the class's max_run_time in seconds, or None when it uses the setting."""
    value = cls.max_run_time
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return None if value is None else float(value)
