"""Send email from a worker instead of the request: deliver_later, send_mail_later, JobEmailBackend.

    from django.core.mail import EmailMessage
    from django_activejob.mail import deliver_later, send_mail_later

    deliver_later(EmailMessage("Welcome", "Hello!", to=["ada@example.com"]))
    send_mail_later("Welcome", "Hello!", None, ["ada@example.com"], wait=60)

Each call enqueues one MailDeliveryJob on the "mailers" queue. Setting
``EMAIL_BACKEND`` (or a MAILERS entry's BACKEND) to
``"django_activejob.mail.backends.JobEmailBackend"`` does the same for every
email the project sends. docs/mail.md describes the settings.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.mail import EmailMessage, EmailMultiAlternatives

from . import delivery
from .jobs import MailDeliveryError, MailDeliveryJob
from .message import deserialize_message, serialize_message, type_name

__all__ = [
    "MailDeliveryError",
    "MailDeliveryJob",
    "deliver_later",
    "deserialize_message",
    "send_mail_later",
    "serialize_message",
]

#: send_mail arguments that send_mail_later rejects, with the reason for each.
_SEND_MAIL_ONLY_ARGUMENTS = {
    "fail_silently": "a failed delivery raises in the job so that the worker retries it",
    "auth_user": "credentials would be stored in the job table, so set them on the delivery backend",
    "auth_password": "credentials would be stored in the job table, so set them on the delivery backend",
    "connection": "the job sends through the backend that the ACTIVEJOB mail delivery settings select",
    "using": "the job sends through the backend that the ACTIVEJOB mail delivery settings select",
}


def deliver_later(
    message: EmailMessage,
    *,
    wait: datetime.timedelta | float | None = None,
    wait_until: datetime.datetime | None = None,
    queue: str | None = None,
    priority: int | None = None,
) -> MailDeliveryJob:
    """Enqueue a MailDeliveryJob that sends ``message``, and return the job.

    ``wait``, ``wait_until``, ``queue`` and ``priority`` work as in
    ``Job.set``, and the queue defaults to "mailers". The message is copied into
    the job's arguments, so later changes to it don't reach the email.

    Raises TypeError when ``message`` is not a django.core.mail.EmailMessage,
    SerializationError when a field can't be stored (the message names it),
    ValueError for a message without recipients or one Django can't render,
    and ImproperlyConfigured when the delivery backend is JobEmailBackend.
    """
    if not isinstance(message, EmailMessage):
        raise TypeError(f"deliver_later() expects a django.core.mail.EmailMessage, not {type_name(message)}.")
    delivery.check_not_delivering()
    delivery.check_delivery_backend()
    data = serialize_message(message)
    if not message.recipients():
        raise ValueError(
            f"The email {str(message.subject)[:80]!r} has no recipients: set to, cc or bcc before "
            f"calling deliver_later()."
        )
    configured = MailDeliveryJob.set(wait=wait, wait_until=wait_until, queue=queue, priority=priority)
    return configured.perform_later(data)


def send_mail_later(
    subject: str,
    message: str,
    from_email: str | None,
    recipient_list: list[str],
    *,
    html_message: str | None = None,
    wait: datetime.timedelta | float | None = None,
    wait_until: datetime.datetime | None = None,
    queue: str | None = None,
    priority: int | None = None,
    **kwargs: Any,
) -> MailDeliveryJob:
    """Enqueue an email built as django.core.mail.send_mail builds it, and return the MailDeliveryJob.

    send_mail returns the number of messages sent, but this returns the job,
    because nothing is sent yet. ``from_email=None`` uses DEFAULT_FROM_EMAIL.
    Other keyword arguments (cc, bcc, reply_to, headers, attachments) go to
    EmailMultiAlternatives. send_mail's fail_silently, auth_user,
    auth_password, connection and using raise TypeError, because the job
    delivers through the configured backend and retries failures.
    """
    for name in kwargs:
        if name in _SEND_MAIL_ONLY_ARGUMENTS:
            raise TypeError(
                f"send_mail_later() does not take {name!r}: {_SEND_MAIL_ONLY_ARGUMENTS[name]}."
            )
    email = EmailMultiAlternatives(subject, message, from_email, recipient_list, **kwargs)
    if html_message:
        email.attach_alternative(html_message, "text/html")
    return deliver_later(email, wait=wait, wait_until=wait_until, queue=queue, priority=priority)
