"""Email classes and backends for tests/test_mail.py, in an installed app so a worker can load them."""

import django
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend


class HtmlEmail(EmailMessage):
    """An EmailMessage subclass that changes a class attribute only."""

    content_subtype = "html"


class TaggedEmail(EmailMultiAlternatives):
    """A subclass that keeps extra state, which serialize_message must reject."""

    def __init__(self, *args, tags=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.tags = list(tags)


class NothingSentBackend(BaseEmailBackend):
    """Return 0 without raising, as Django's SMTP backend does with fail_silently=True."""

    def send_messages(self, email_messages):
        return 0


class ForwardingBackend(BaseEmailBackend):
    """Forward every message to the project's default backend, which may be JobEmailBackend."""

    def send_messages(self, email_messages):
        if django.VERSION >= (6, 1) and hasattr(settings, "MAILERS"):
            return mail.mailers.default.send_messages(email_messages)
        return mail.get_connection().send_messages(email_messages)
