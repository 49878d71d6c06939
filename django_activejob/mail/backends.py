"""JobEmailBackend: an email backend that enqueues a MailDeliveryJob for each message."""

from __future__ import annotations

import logging
from typing import Any

from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from .. import conf
from . import delivery

logger = logging.getLogger("django_activejob.mail")


class JobEmailBackend(BaseEmailBackend):
    """Enqueue one MailDeliveryJob per message instead of sending it.

    Select it with ``EMAIL_BACKEND`` (Django 5.2, or 6.x without MAILERS) or
    as the BACKEND of a MAILERS entry (Django 6.1+). The job then sends
    through the backend that ``ACTIVEJOB["MAIL_DELIVERY_BACKEND"]`` or
    ``ACTIVEJOB["MAIL_DELIVERY_MAILER"]`` selects, never through this one.

    ``send_messages`` returns the number of messages enqueued and skips
    messages without recipients, as Django's SMTP backend does.
    ``fail_silently`` covers enqueueing only: a message that can't be
    serialized or stored is logged and dropped. Delivery errors always raise
    in the job, so the worker retries them.
    """

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        # Django 6.1's BaseEmailBackend deprecates fail_silently, so it is not passed on,
        # as Django's SMTP backend does.
        super().__init__(**kwargs)
        self.fail_silently = fail_silently

    def send_messages(self, email_messages: Any) -> int:
        from . import deliver_later

        if not email_messages:
            return 0
        # A delivery loop is a configuration error, so it raises even with fail_silently.
        delivery.check_not_delivering()
        delivery.check_delivery_backend()

        enqueued = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                # A savepoint, so a failed INSERT doesn't break the caller's transaction.
                with transaction.atomic(using=conf.get("DATABASE")):
                    deliver_later(message)
            except Exception:
                if not self.fail_silently:
                    raise
                logger.exception(
                    "Could not enqueue a MailDeliveryJob for the email %r, so it was dropped "
                    "because fail_silently is True.", str(message.subject)[:80],
                )
                continue
            enqueued += 1
        return enqueued
