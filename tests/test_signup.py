"""The demo blog's sign-up flow: view, DelayedJob row, worker, real SMTP server, confirm link."""

from __future__ import annotations

import datetime
import email.message
import re
from urllib.parse import urlsplit

import factory
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from demo_project.blog.jobs import SignUpConfirmationEmailJob
from demo_project.settings import email_settings
from django_activejob import EnqueueError
from django_activejob.models import DelayedJob
from django_activejob.worker import Worker, WorkerOptions

User = get_user_model()

PASSWORD = "correct-horse-battery-staple"
JOB_CLASS = "demo_project.blog.jobs.SignUpConfirmationEmailJob"
MAIL_JOB_CLASS = "django_activejob.mail.jobs.MailDeliveryJob"
# tests/settings.py sets SITE_URL to the test client's host.
CONFIRM_LINK = re.compile(r"http://testserver/confirm/[\w-]+/[\w-]+/")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)
    is_active = False


class Rollback(Exception):
    pass


@pytest.fixture
def smtp(smtp_server):
    """The loopback SMTP server, with Django's SMTP backend pointed at it.

    Django's test setup replaces the email backend with the in-memory one
    for every test, so this sets it back to SMTP. Credentials and TLS are
    cleared in case EMAIL_URL in the environment sets them.
    """
    with override_settings(**email_settings(smtp_server.url, timeout=5)):
        yield smtp_server


def sign_up(client, **fields):
    data = {
        "username": "ada",
        "email": "ada@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **fields,
    }
    return client.post(reverse("blog:signup"), data)


def work_off(now=None) -> None:
    """Perform every ready job in this process, as one jobs_worker pass would."""
    if now is None:
        Worker(WorkerOptions(identifier="w")).work_off()
    else:
        Worker(WorkerOptions(identifier="w"), now=now).work_off()


def text_body(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_body(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def confirmation_path(message: email.message.EmailMessage) -> str:
    match = CONFIRM_LINK.search(text_body(message))
    assert match, f"no confirmation link in the text body:\n{text_body(message)}"
    return urlsplit(match.group()).path


# The request


@pytest.mark.django_db(transaction=True)
def test_signup_enqueues_without_sending(client, smtp):
    response = sign_up(client)

    assert response.status_code == 302
    assert response["Location"] == reverse("blog:signup_done")
    user = User.objects.get(username="ada")
    assert user.email == "ada@example.com"
    assert user.is_active is False
    assert user.check_password(PASSWORD)

    row = DelayedJob.objects.get()
    assert row.job_class == JOB_CLASS
    assert row.queue == "default"
    assert row.attempts == 0
    assert f'"args":[{user.pk}]' in row.handler
    assert smtp.messages == []


@pytest.mark.django_db
def test_signup_done_page(client):
    response = client.get(reverse("blog:signup_done"))

    assert response.status_code == 200
    assert "Check your email" in response.text


@pytest.mark.django_db
def test_signup_page_renders_form(client):
    response = client.get(reverse("blog:signup"))

    assert response.status_code == 200
    for name in ("username", "email", "password1", "password2", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in response.text


# The worker and the email


@pytest.mark.django_db(transaction=True)
def test_worker_sends_confirmation_email(client, smtp):
    sign_up(client)

    work_off()

    messages = smtp.wait_for_messages(1)
    assert len(messages) == 1
    message = messages[0]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Confirm your Demo Blog account"
    assert "Hello ada," in text_body(message)
    assert CONFIRM_LINK.search(text_body(message))
    assert CONFIRM_LINK.search(html_body(message))
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_confirmation_link_activates_user(client, smtp):
    sign_up(client)
    work_off()
    path = confirmation_path(smtp.wait_for_messages(1)[0])

    response = client.get(path)

    assert response.status_code == 200
    assert "is now active" in response.text
    assert User.objects.get(username="ada").is_active is True

    row = DelayedJob.objects.get()
    assert row.job_class == MAIL_JOB_CLASS
    assert row.queue == "mailers"
    work_off()
    welcome = smtp.wait_for_messages(2)[1]
    assert welcome["To"] == "ada@example.com"
    assert welcome["Subject"] == "Welcome to Demo Blog"
    assert "http://testserver/accounts/login/" in text_body(welcome)


@pytest.mark.django_db(transaction=True)
def test_confirmation_link_reused_before_login(client, smtp):
    sign_up(client)
    work_off()
    path = confirmation_path(smtp.wait_for_messages(1)[0])
    client.get(path)

    response = client.get(path)

    assert response.status_code == 200
    assert "was already active" in response.text
    # Only the first confirmation enqueues the welcome email.
    assert DelayedJob.objects.filter(job_class=MAIL_JOB_CLASS).count() == 1


@pytest.mark.django_db(transaction=True)
def test_confirmation_link_invalid_after_login(client, smtp):
    sign_up(client)
    work_off()
    path = confirmation_path(smtp.wait_for_messages(1)[0])
    client.get(path)
    # Logging in updates last_login, which is part of the token's hash.
    assert client.login(username="ada", password=PASSWORD)

    response = client.get(path)

    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["bad token", "other user's token", "unknown user", "bad uidb64"])
def test_confirm_invalid_link_returns_400(client, case):
    user = UserFactory()
    other = UserFactory()
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    if case == "bad token":
        token = "abc-0123456789abcdef"
    elif case == "other user's token":
        token = default_token_generator.make_token(other)
    elif case == "unknown user":
        uidb64 = urlsafe_base64_encode(force_bytes(other.pk + 1000))
    elif case == "bad uidb64":
        uidb64 = "not-base64!"

    response = client.get(reverse("blog:confirm", args=[uidb64, token]))

    assert response.status_code == 400
    assert "Link invalid or expired" in response.text
    user.refresh_from_db()
    assert user.is_active is False


@pytest.mark.django_db(transaction=True)
def test_job_skips_active_user(smtp):
    user = UserFactory(is_active=True)

    SignUpConfirmationEmailJob.perform_now(user.pk)

    assert smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_job_for_missing_user_fails_visibly(smtp):
    SignUpConfirmationEmailJob.perform_later(987654)

    work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.last_error.startswith("django.contrib.auth.models.User.DoesNotExist")
    assert row.failed_at is None
    assert smtp.messages == []


# SMTP down, then back


@pytest.mark.django_db(transaction=True)
def test_smtp_down_then_retry_delivers(client, smtp):
    smtp.stop()
    response = sign_up(client)
    assert response.status_code == 302

    before = timezone.now()
    work_off()
    after = timezone.now()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    assert row.locked_by is None
    assert row.locked_at is None
    assert row.failed_at is None
    # delayed_job's backoff after attempt n is n**4 + 5 seconds.
    assert before + datetime.timedelta(seconds=6) <= row.run_at
    assert row.run_at <= after + datetime.timedelta(seconds=6)
    assert smtp.messages == []

    smtp.start()
    # Before run_at the row is not ready, so a pass does nothing.
    work_off()
    row.refresh_from_db()
    assert row.attempts == 1
    assert smtp.messages == []

    run_at = row.run_at
    work_off(now=lambda: run_at + datetime.timedelta(seconds=1))

    messages = smtp.wait_for_messages(1)
    assert len(messages) == 1
    assert messages[0]["To"] == "ada@example.com"
    assert DelayedJob.objects.count() == 0


# Transactions and invalid input


@pytest.mark.django_db(transaction=True)
def test_rollback_around_signup_enqueues_nothing(client, smtp):
    with pytest.raises(Rollback), transaction.atomic():
        response = sign_up(client)
        assert response.status_code == 302
        assert DelayedJob.objects.count() == 1
        raise Rollback

    assert not User.objects.filter(username="ada").exists()
    assert DelayedJob.objects.count() == 0
    work_off()
    assert smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_enqueue_failure_leaves_no_user(client, monkeypatch):
    def fail_enqueue(*args, **kwargs):
        raise EnqueueError("queue unavailable")

    monkeypatch.setattr(SignUpConfirmationEmailJob, "perform_later", fail_enqueue)

    with pytest.raises(EnqueueError):
        sign_up(client)

    assert not User.objects.filter(username="ada").exists()
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_welcome_enqueue_failure_keeps_user_inactive(client, smtp, monkeypatch):
    sign_up(client)
    work_off()
    path = confirmation_path(smtp.wait_for_messages(1)[0])

    def fail_enqueue(*args, **kwargs):
        raise EnqueueError("queue unavailable")

    monkeypatch.setattr("demo_project.blog.views.deliver_later", fail_enqueue)

    with pytest.raises(EnqueueError):
        client.get(path)

    assert User.objects.get(username="ada").is_active is False
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["ada@example.com", "ADA@Example.com"])
def test_duplicate_email_shows_form_error(client, email):
    UserFactory(username="first", email="ada@example.com", is_active=True)

    response = sign_up(client, email=email)

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An account with this email address already exists."
    ]
    assert User.objects.count() == 1
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field_with_error"),
    [
        ({"email": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"username": ""}, "username"),
        ({"username": "bad name!"}, "username"),
        ({"password2": "something-else-entirely"}, "password2"),
        ({"password1": "short", "password2": "short"}, "password2"),
    ],
)
def test_invalid_input_shows_form_error(client, fields, field_with_error):
    response = sign_up(client, **fields)

    assert response.status_code == 200
    assert field_with_error in response.context["form"].errors
    assert User.objects.count() == 0
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db
def test_duplicate_username_shows_form_error(client):
    UserFactory(username="ada", email="first@example.com")

    response = sign_up(client, username="ADA")

    assert response.status_code == 200
    assert "username" in response.context["form"].errors
    assert DelayedJob.objects.count() == 0


# A real jobs_worker process


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_process_sends_email(client, smtp_server, start_worker):
    sign_up(client)

    worker = start_worker(
        "--queue", "default", "--exit-on-complete", "--sleep-delay", "0.1",
        EMAIL_URL=smtp_server.url,
    )

    assert worker.wait() == 0, worker.output()
    messages = smtp_server.wait_for_messages(1)
    assert len(messages) == 1
    assert messages[0]["To"] == "ada@example.com"
    assert CONFIRM_LINK.search(text_body(messages[0]))
    assert "Performed SignUpConfirmationEmailJob" in worker.output()
    assert DelayedJob.objects.count() == 0
