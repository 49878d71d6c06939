"""Exceptions raised by django_activejob."""


class ActiveJobError(Exception):
    """Base class for every error raised by django_activejob."""


class SerializationError(ActiveJobError, TypeError):
    """An argument can't be turned into JSON; raised at enqueue time."""


class DeserializationError(ActiveJobError):
    """A stored argument can't be turned back into a Python value at perform time."""


class RecordNotFoundDeserializationError(DeserializationError):
    """A model instance passed by reference no longer exists.

    Subclasses DeserializationError, so ``discard_on`` can target the missing
    row alone while a transient database error during loading still retries.
    """

    def __init__(self, model_label: str, pk: object) -> None:
        self.model_label = model_label
        self.pk = pk
        super().__init__(
            f"{model_label} with pk={pk!r} was not found; it was deleted after the "
            f"job was enqueued."
        )


class InvalidPayloadError(DeserializationError):
    """A job row's handler is not a payload this version can read.

    The payload will never become readable by retrying, so the worker marks
    the row failed at once.
    """


class JobClassNotFoundError(InvalidPayloadError):
    """A payload names a job class that is not a registered Job subclass."""


class UnsupportedFeatureError(ActiveJobError):
    """A queue adapter can't do what the job asked, such as scheduling."""


class EnqueueError(ActiveJobError):
    """A job can't be enqueued as configured."""
