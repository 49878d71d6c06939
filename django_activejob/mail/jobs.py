"""MailDeliveryJob: send one stored email through the delivery backend."""

from __future__ import annotations

from typing import Any

from ..exceptions import ActiveJobError
from ..job import Job
from . import delivery
from .message import deserialize_message


class MailDeliveryError(ActiveJobError):
    """The delivery backend returned 0 messages sent, without raising an error."""


class MailDeliveryJob(Job):
    """Send one email, stored by ``serialize_message``, through the delivery backend.

    deliver_later, send_mail_later and JobEmailBackend enqueue it. Errors
    from the backend, such as an SMTP connection error, propagate, so the
    worker retries the job with delayed_job's backoff. When a backend returns
    0 without raising (an SMTP backend created with ``fail_silently=True``
    does this when sending fails), the job raises MailDeliveryError for the
    same reason.
    """

    queue_as = "mailers"
    # Bodies carry password reset links and other secrets, so log lines leave them out.
    log_arguments = False

    def perform(self, message_data: dict[str, Any]) -> None:
        message = deserialize_message(message_data)
        backend = delivery.open_delivery_backend()
        with delivery.delivering(self.job_id):
            sent = backend.send_messages([message])
        # Some third-party backends return None, which doesn't equal 0.
        if sent == 0:
            raise MailDeliveryError(
                f"The email backend {delivery.delivery_backend_path()!r} returned 0 messages sent for "
                f"the email {str(message.subject)[:80]!r} without raising an error, which a backend "
                f"with fail_silently=True does when sending fails. The job raises so the worker "
                f"retries it."
            )
