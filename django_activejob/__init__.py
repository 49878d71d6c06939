"""Rails-style background jobs for Django, with a delayed_job-style database queue.

    from django_activejob import Job

    class SignUpConfirmationEmailJob(Job):
        def perform(self, user_id):
            ...

    SignUpConfirmationEmailJob.perform_later(user.id)
"""

from .bulk import perform_all_later
from .exceptions import (
    DeserializationError,
    EnqueueError,
    RecordNotFoundDeserializationError,
    SerializationError,
    UnsupportedFeatureError,
)
from .job import Job

__version__ = "0.1.0"

__all__ = [
    "DeserializationError",
    "EnqueueError",
    "Job",
    "RecordNotFoundDeserializationError",
    "SerializationError",
    "UnsupportedFeatureError",
    "perform_all_later",
]
