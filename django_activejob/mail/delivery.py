"""Choose the email backend that MailDeliveryJob sends through, and stop delivery loops.

With Django 6.1's MAILERS setting, the job sends through the mailer whose
alias is ``ACTIVEJOB["MAIL_DELIVERY_MAILER"]`` (default ``"default"``).
Without MAILERS (Django 5.2, or 6.x still on the EMAIL_* settings), it sends
through the dotted path ``ACTIVEJOB["MAIL_DELIVERY_BACKEND"]``, or through
EMAIL_BACKEND when that key is None (the default).

A delivery backend that hands the message to JobEmailBackend again would
enqueue a new MailDeliveryJob for every delivery, forever. Two guards stop
that loop with ImproperlyConfigured: the delivery backend's class is checked
at enqueue and before every delivery, and while a job delivers, JobEmailBackend
and deliver_later reject new messages. The second guard catches a backend that
forwards to the project's default mailer.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .. import conf

#: The backend of a MAILERS entry without "BACKEND", as in Django 6.1.
DEFAULT_MAILER_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

JOB_EMAIL_BACKEND = "django_activejob.mail.backends.JobEmailBackend"

#: The job ID of the MailDeliveryJob that is sending a message in this thread or task.
_delivering_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "django_activejob_mail_delivering_job_id", default=None
)


def uses_mailers() -> bool:
    """Return whether the project configures email with the MAILERS setting of Django 6.1+."""
    return django.VERSION >= (6, 1) and hasattr(settings, "MAILERS")


def delivery_setting() -> str:
    """Return the setting that chooses the delivery backend, with its value, for messages."""
    if uses_mailers():
        return f"ACTIVEJOB['MAIL_DELIVERY_MAILER'] = {conf.get('MAIL_DELIVERY_MAILER')!r}"
    path = conf.get("MAIL_DELIVERY_BACKEND")
    if path is None:
        return f"EMAIL_BACKEND = {settings.EMAIL_BACKEND!r} (ACTIVEJOB['MAIL_DELIVERY_BACKEND'] is None)"
    return f"ACTIVEJOB['MAIL_DELIVERY_BACKEND'] = {path!r}"


def delivery_backend_path() -> str:
    """Return the dotted path of the backend class that MailDeliveryJob sends through.

    Raises ImproperlyConfigured for a setting of the wrong type or a MAILERS
    alias that doesn't exist.
    """
    if uses_mailers():
        alias = conf.get("MAIL_DELIVERY_MAILER")
        if not isinstance(alias, str) or alias not in settings.MAILERS:
            raise ImproperlyConfigured(
                f"ACTIVEJOB['MAIL_DELIVERY_MAILER'] = {alias!r} is invalid: MailDeliveryJob sends "
                f"through this MAILERS alias, and MAILERS defines {sorted(settings.MAILERS)}. Set it "
                f"to the alias of a mailer that sends email itself, such as an SMTP one."
            )
        return settings.MAILERS[alias].get("BACKEND", DEFAULT_MAILER_BACKEND)

    path = conf.get("MAIL_DELIVERY_BACKEND")
    if path is None:
        return settings.EMAIL_BACKEND
    if not isinstance(path, str):
        raise ImproperlyConfigured(
            f"ACTIVEJOB['MAIL_DELIVERY_BACKEND'] = {path!r} is invalid: set it to the dotted path "
            f"of an email backend, such as 'django.core.mail.backends.smtp.EmailBackend', or None "
            f"to use EMAIL_BACKEND."
        )
    return path


def check_delivery_backend() -> None:
    """Raise ImproperlyConfigured when the delivery backend can't be imported or is JobEmailBackend."""
    path = delivery_backend_path()
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"The email backend {path!r} that MailDeliveryJob sends through could not be imported "
            f"({exc}). Fix {delivery_setting()}."
        ) from exc
    reject_job_backend(backend_class)


def reject_job_backend(backend_class: Any) -> None:
    """Raise ImproperlyConfigured when ``backend_class`` is JobEmailBackend or a subclass."""
    from .backends import JobEmailBackend

    if not (isinstance(backend_class, type) and issubclass(backend_class, JobEmailBackend)):
        return
    if uses_mailers():
        fix = (
            "Add a MAILERS entry whose BACKEND sends email itself, such as "
            "'django.core.mail.backends.smtp.EmailBackend', and set "
            "ACTIVEJOB['MAIL_DELIVERY_MAILER'] to its alias."
        )
    else:
        fix = (
            "Set ACTIVEJOB['MAIL_DELIVERY_BACKEND'] to a backend that sends email itself, such "
            "as 'django.core.mail.backends.smtp.EmailBackend'."
        )
    raise ImproperlyConfigured(
        f"MailDeliveryJob can't send through {delivery_setting()}, because that is JobEmailBackend: "
        f"every delivery would enqueue another MailDeliveryJob instead of sending the message. {fix}"
    )


def open_delivery_backend() -> Any:
    """Return a new, unopened instance of the backend that MailDeliveryJob sends through."""
    check_delivery_backend()
    if uses_mailers():
        from django.core.mail import mailers

        backend = mailers[conf.get("MAIL_DELIVERY_MAILER")]
    else:
        from django.core.mail import get_connection

        backend = get_connection(delivery_backend_path())
    reject_job_backend(type(backend))
    return backend


@contextlib.contextmanager
def delivering(job_id: Any) -> Iterator[None]:
    """Mark the block as MailDeliveryJob ``job_id`` sending its message."""
    token = _delivering_job_id.set(str(job_id))
    try:
        yield
    finally:
        _delivering_job_id.reset(token)


def check_not_delivering() -> None:
    """Raise ImproperlyConfigured when called while a MailDeliveryJob sends its message."""
    job_id = _delivering_job_id.get()
    if job_id is None:
        return
    raise ImproperlyConfigured(
        f"An email was enqueued while MailDeliveryJob (Job ID: {job_id}) was sending one, so the "
        f"delivery backend selected by {delivery_setting()} sends through JobEmailBackend or "
        f"deliver_later again. Enqueueing it would create a new MailDeliveryJob for every "
        f"delivery, forever. Choose a delivery backend that sends email itself."
    )
