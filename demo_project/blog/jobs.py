"""Background jobs of the blog, performed by ``manage.py jobs_worker``."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from django_activejob import Job

from .tokens import confirmation_token_generator

logger = logging.getLogger(__name__)


def confirmation_url(user) -> str:
    """Return the absolute link that activates ``user``.

    The token expires after PASSWORD_RESET_TIMEOUT seconds (3 days by
    default), and earlier once the user logs in or changes their password.
    """
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = confirmation_token_generator.make_token(user)
    return f"{settings.SITE_URL.rstrip('/')}{reverse('blog:confirm', args=[uidb64, token])}"


def welcome_email(user) -> EmailMessage:
    """Build the email that greets ``user`` once their account is confirmed.

    The confirm view hands it to django_activejob.mail.deliver_later, which
    stores the finished message in a MailDeliveryJob. Unlike the
    confirmation email, it needs nothing that only the worker should
    compute, so it needs no job class of its own.
    """
    return EmailMessage(
        subject="Welcome to Demo Blog",
        body=(
            f"Hello {user.get_username()},\n\n"
            f"Your account is active. Log in at {settings.SITE_URL.rstrip('/')}{reverse('login')}\n"
        ),
        to=[user.email],
    )


class SignUpConfirmationEmailJob(Job):
    """Send a new, inactive user the email with their confirmation link.

    A missing user raises User.DoesNotExist, so the worker records the
    failure and retries. An SMTP error also propagates and is retried.
    """

    queue_as = "default"

    def perform(self, user_id: int) -> None:
        user = get_user_model()._default_manager.get(pk=user_id)
        if user.is_active:
            # A retry after the user already confirmed, or an account an admin activated.
            logger.info("Skipped the confirmation email for user %s: the user is already active.", user_id)
            return

        context = {"user": user, "confirmation_url": confirmation_url(user)}
        subject = render_to_string("blog/email/confirmation_subject.txt", context)
        message = EmailMultiAlternatives(
            subject=" ".join(subject.split()),
            body=render_to_string("blog/email/confirmation.txt", context),
            to=[user.email],
        )
        message.attach_alternative(
            render_to_string("blog/email/confirmation.html", context), "text/html"
        )
        message.send()
