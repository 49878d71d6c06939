"""django_activejob.mail against a real SMTP server on loopback, with the database adapter and a worker."""

from __future__ import annotations

import datetime
import email.message
import email.policy
import io
import json
import logging
import warnings
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase

import django
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from demo_project.settings import email_settings
from django_activejob import Job, SerializationError
from django_activejob.checks import check_mail_delivery
from django_activejob.mail import (
    MailDeliveryJob,
    deliver_later,
    deserialize_message,
    send_mail_later,
    serialize_message,
)
from django_activejob.mail.backends import JobEmailBackend
from django_activejob.models import DelayedJob
from django_activejob.worker import Worker, WorkerOptions
from tests.testapp.emails import HtmlEmail, TaggedEmail

#: Django 6.1 configures email with MAILERS, and the demo settings use it there.
USES_MAILERS = django.VERSION >= (6, 1)

JOB_BACKEND = "django_activejob.mail.backends.JobEmailBackend"
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
MAIL_JOB_CLASS = "django_activejob.mail.jobs.MailDeliveryJob"

#: Every byte value, so a lossy text conversion anywhere shows up.
BINARY = bytes(range(256))
SECRET_LINK = "https://testserver/reset/MQ/secret-token-123/"


# Settings


def activejob_settings(**changes):
    return {**settings.ACTIVEJOB, **changes}


def smtp_settings(server, **activejob):
    """Send email straight through ``server``, which MailDeliveryJob also delivers through."""
    return {**email_settings(server.url, timeout=5), "ACTIVEJOB": activejob_settings(**activejob)}


def job_backend_settings(server, **activejob):
    """Turn every email into a MailDeliveryJob that the worker delivers through ``server``."""
    smtp = email_settings(server.url, timeout=5)
    if USES_MAILERS:
        return {
            "MAILERS": {"default": {"BACKEND": JOB_BACKEND}, "smtp": smtp["MAILERS"]["default"]},
            "ACTIVEJOB": activejob_settings(MAIL_DELIVERY_MAILER="smtp", **activejob),
        }
    return {
        **smtp,
        "EMAIL_BACKEND": JOB_BACKEND,
        "ACTIVEJOB": activejob_settings(MAIL_DELIVERY_BACKEND=SMTP_BACKEND, **activejob),
    }


def loop_settings(server, **activejob):
    """Make JobEmailBackend the project's backend and, by default, the delivery backend too."""
    if USES_MAILERS:
        return {"MAILERS": {"default": {"BACKEND": JOB_BACKEND}}, "ACTIVEJOB": activejob_settings(**activejob)}
    return {
        **email_settings(server.url, timeout=5),
        "EMAIL_BACKEND": JOB_BACKEND,
        "ACTIVEJOB": activejob_settings(**activejob),
    }


def delivery_through(backend_path, server):
    """Make JobEmailBackend the project's backend and deliver through ``backend_path``."""
    if USES_MAILERS:
        return {
            "MAILERS": {"default": {"BACKEND": JOB_BACKEND}, "delivery": {"BACKEND": backend_path}},
            "ACTIVEJOB": activejob_settings(MAIL_DELIVERY_MAILER="delivery"),
        }
    return {
        **email_settings(server.url, timeout=5),
        "EMAIL_BACKEND": JOB_BACKEND,
        "ACTIVEJOB": activejob_settings(MAIL_DELIVERY_BACKEND=backend_path),
    }


@pytest.fixture
def smtp(smtp_server):
    """The loopback SMTP server, as the project's email backend and the delivery backend."""
    with override_settings(**smtp_settings(smtp_server)):
        yield smtp_server


@pytest.fixture
def job_backend(smtp_server):
    """The loopback SMTP server behind JobEmailBackend, so every email becomes a job."""
    with override_settings(**job_backend_settings(smtp_server)):
        yield smtp_server


# Helpers


def work_off(now=None) -> None:
    """Perform every ready job in this process, as one jobs_worker pass would."""
    if now is None:
        Worker(WorkerOptions(identifier="t")).work_off()
    else:
        Worker(WorkerOptions(identifier="t"), now=now).work_off()


def stored_message(row: DelayedJob) -> EmailMessage:
    """Rebuild the EmailMessage that a MailDeliveryJob row holds, as the worker does."""
    job = Job.deserialize(json.loads(row.handler))
    return deserialize_message(job.arguments[0])


def mime_bytes(part: email.message.Message) -> bytes:
    return part.as_bytes(policy=part.policy.clone(linesep="\n"))


def rich_message() -> EmailMultiAlternatives:
    """Return a message that uses every field serialize_message stores."""
    message = EmailMultiAlternatives(
        subject="Quarterly report — Grüße",
        body="Plain body.\nFrom here on, a line starts with 'From '.\n",
        from_email="Reports <reports@example.com>",
        to=["ada@example.com", "Grace Hopper <grace@example.com>"],
        cc=["cc@example.com"],
        bcc=["hidden@example.com"],
        reply_to=["replies@example.com"],
        headers={
            "X-Campaign": "q3",
            "List-Unsubscribe": "<mailto:unsubscribe@example.com>",
            "Date": datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC),
        },
    )
    message.attach_alternative("<p>HTML <b>body</b> — Grüße</p>", "text/html")

    message.attach("report.bin", BINARY, "application/octet-stream")
    message.attach("notes.txt", "Notes — ünïcode\n", "text/plain")
    message.attach("données.csv", b"a,b\n1,2\n", "text/csv")
    # Not UTF-8, so attach() changes the mimetype to application/octet-stream.
    message.attach("latin1.txt", "Grüße".encode("latin-1"), "text/plain")

    forwarded = EmailMessage("Forwarded", "Inner body", "inner@example.com", ["x@example.com"])
    message.attach("forwarded.eml", forwarded, "message/rfc822")

    with warnings.catch_warnings():
        # Django 6.1 deprecates MIMEBase attachments in favour of MIMEPart.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        message.attach(MIMEApplication(b"%PDF-1.4 \x00\xff", "pdf", Name="legacy.pdf"))

    if USES_MAILERS:
        part = email.message.MIMEPart()
        part.set_content(b"modern \x00\xff", maintype="application", subtype="x-modern", filename="modern.bin")
        message.attach(part)
    return message


def received_parts(message: email.message.EmailMessage) -> list[tuple]:
    """Return (content type, charset, filename, decoded payload) for every part, in order."""
    return [
        (
            part.get_content_type(),
            part.get_content_charset(),
            part.get_filename(),
            None if part.is_multipart() else part.get_payload(decode=True),
        )
        for part in message.walk()
    ]


def received_headers(message: email.message.EmailMessage) -> dict[str, str]:
    """Return the headers that don't change between two sends of the same message."""
    varying = {"message-id", "content-type"}
    return {name: str(value) for name, value in message.items() if name.lower() not in varying}


def text(part: email.message.EmailMessage) -> str:
    """Return a text part's content with LF line ends and no final line end.

    SMTP carries CRLF, and Django 6.x ends every text body with a line end
    where Django 5.2 keeps the body as given.
    """
    return part.get_content().replace("\r\n", "\n").removesuffix("\n")


def attachment_payloads(message: email.message.EmailMessage) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


# Every field survives


@pytest.mark.django_db(transaction=True)
def test_deliver_later_matches_direct_send(smtp):
    rich_message().send()
    direct = smtp.wait_for_messages(1)[0]

    deliver_later(rich_message())
    assert len(smtp.messages) == 1
    work_off()

    later = smtp.wait_for_messages(2)[1]
    assert received_headers(later) == received_headers(direct)
    assert received_parts(later) == received_parts(direct)
    assert smtp.recipients[1] == smtp.recipients[0]
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_deliver_later_delivers_every_field(smtp):
    deliver_later(rich_message())
    work_off()

    received = smtp.wait_for_messages(1)[0]
    assert received["Subject"] == "Quarterly report — Grüße"
    assert received["From"] == "Reports <reports@example.com>"
    assert received["To"] == "ada@example.com, Grace Hopper <grace@example.com>"
    assert received["Cc"] == "cc@example.com"
    assert received["Reply-To"] == "replies@example.com"
    assert received["X-Campaign"] == "q3"
    assert received["List-Unsubscribe"] == "<mailto:unsubscribe@example.com>"
    assert received["Bcc"] is None
    assert smtp.recipients == [sorted([
        "ada@example.com", "grace@example.com", "cc@example.com", "hidden@example.com",
    ])]
    assert text(received.get_body(("plain",))) == "Plain body.\nFrom here on, a line starts with 'From '."
    assert text(received.get_body(("html",))) == "<p>HTML <b>body</b> — Grüße</p>"

    payloads = attachment_payloads(received)
    assert payloads["report.bin"] == BINARY
    # SMTP carries text with CRLF line ends.
    assert payloads["notes.txt"].decode() == "Notes — ünïcode\r\n"
    assert payloads["données.csv"] == b"a,b\r\n1,2\r\n"
    assert payloads["latin1.txt"] == "Grüße".encode("latin-1")
    assert payloads["legacy.pdf"] == b"%PDF-1.4 \x00\xff"
    if USES_MAILERS:
        assert payloads["modern.bin"] == b"modern \x00\xff"
    forwarded = next(part for part in received.iter_attachments() if part.get_filename() == "forwarded.eml")
    inner = forwarded.get_content()
    assert inner["Subject"] == "Forwarded"
    assert text(inner) == "Inner body"


@pytest.mark.django_db(transaction=True)
def test_stored_message_keeps_every_field(smtp):
    original = rich_message()
    deliver_later(original)

    rebuilt = stored_message(DelayedJob.objects.get())

    assert type(rebuilt) is EmailMultiAlternatives
    for field in ("subject", "body", "from_email", "to", "cc", "bcc", "reply_to", "extra_headers",
                  "alternatives", "content_subtype", "encoding"):
        assert getattr(rebuilt, field) == getattr(original, field), field
    assert isinstance(rebuilt.extra_headers["Date"], datetime.datetime)
    assert len(rebuilt.attachments) == len(original.attachments)
    for rebuilt_part, sent in zip(rebuilt.attachments, original.attachments, strict=True):
        if isinstance(sent, MIMEBase):
            # A MIMEApplication comes back as its base class, which Django treats the same.
            assert type(rebuilt_part) is MIMEBase
            assert mime_bytes(rebuilt_part) == mime_bytes(sent)
        elif isinstance(sent, email.message.MIMEPart):
            assert type(rebuilt_part) is email.message.MIMEPart
            assert mime_bytes(rebuilt_part) == mime_bytes(sent)
        elif sent.mimetype == "message/rfc822":
            # The attached EmailMessage is rendered at enqueue, so it comes back as bytes.
            assert (rebuilt_part.filename, rebuilt_part.mimetype) == (sent.filename, sent.mimetype)
            forwarded = email.message_from_bytes(rebuilt_part.content, policy=email.policy.default)
            assert forwarded["Subject"] == sent.content.subject
            assert text(forwarded) == sent.content.body
        else:
            assert rebuilt_part == sent


@pytest.mark.django_db(transaction=True)
def test_html_body_and_encoding_survive(smtp):
    message = EmailMessage("Grüße", "<p>Grüße aus Köln</p>", to=["ada@example.com"])
    message.content_subtype = "html"
    message.encoding = "iso-8859-1"

    deliver_later(message)
    rebuilt = stored_message(DelayedJob.objects.get())
    work_off()

    assert type(rebuilt) is EmailMessage
    assert rebuilt.content_subtype == "html"
    assert rebuilt.encoding == "iso-8859-1"
    received = smtp.wait_for_messages(1)[0]
    assert received.get_content_type() == "text/html"
    assert received.get_content_charset() == "iso-8859-1"
    assert text(received) == "<p>Grüße aus Köln</p>"


@pytest.mark.django_db(transaction=True)
def test_subclass_class_survives(smtp):
    deliver_later(HtmlEmail("Subclass", "<p>Hi</p>", to=["ada@example.com"]))
    rebuilt = stored_message(DelayedJob.objects.get())
    work_off()

    assert type(rebuilt) is HtmlEmail
    assert "content_subtype" not in vars(rebuilt)
    received = smtp.wait_for_messages(1)[0]
    assert received.get_content_type() == "text/html"


@pytest.mark.django_db
def test_serialized_message_is_plain_json():
    message = EmailMessage("Hi", "Body", to=["ada@example.com"])
    message.attach("data.bin", b"\xffbytes", "application/octet-stream")

    data = serialize_message(message)

    assert json.loads(json.dumps(data)) == data
    assert data["class"] == "django.core.mail.message:EmailMessage"
    assert data["attachments"] == [
        {"filename": "data.bin", "content": {"base64": "/2J5dGVz"}, "mimetype": "application/octet-stream"},
    ]
    assert deserialize_message(data).attachments[0].content == b"\xffbytes"


@pytest.mark.django_db
def test_lazy_and_safe_strings_stored_as_str():
    message = EmailMessage(
        gettext_lazy("Password reset"), mark_safe("<p>Body</p>"), to=[gettext_lazy("ada@example.com")],
        headers={"X-Label": mark_safe("label")},
    )

    data = serialize_message(message)

    assert json.loads(json.dumps(data)) == data
    assert type(data["subject"]) is str
    assert type(data["body"]) is str
    assert type(data["to"][0]) is str
    assert type(data["headers"]["X-Label"]) is str


# Enqueueing and scheduling


@pytest.mark.django_db(transaction=True)
def test_deliver_later_enqueues_without_sending(smtp):
    job = deliver_later(EmailMessage("Hi", "Body", to=["ada@example.com"]))

    assert isinstance(job, MailDeliveryJob)
    assert job.successfully_enqueued
    row = DelayedJob.objects.get()
    assert row.pk == job.provider_job_id
    assert row.job_class == MAIL_JOB_CLASS
    assert row.queue == "mailers"
    assert row.priority == 0
    assert row.attempts == 0
    assert smtp.messages == []

    work_off()

    assert len(smtp.wait_for_messages(1)) == 1
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_deliver_later_options(smtp):
    before = timezone.now()
    job = deliver_later(
        EmailMessage("Later", "Body", to=["ada@example.com"]),
        wait=datetime.timedelta(minutes=10), queue="urgent", priority=-5,
    )
    after = timezone.now()

    row = DelayedJob.objects.get()
    assert job.queue_name == "urgent"
    assert row.queue == "urgent"
    assert row.priority == -5
    assert before + datetime.timedelta(minutes=10) <= row.run_at <= after + datetime.timedelta(minutes=10)

    work_off()
    assert smtp.messages == []

    run_at = row.run_at
    work_off(now=lambda: run_at + datetime.timedelta(seconds=1))
    assert smtp.wait_for_messages(1)[0]["Subject"] == "Later"


@pytest.mark.django_db(transaction=True)
def test_deliver_later_wait_until(smtp):
    run_at = timezone.now() + datetime.timedelta(days=1)

    deliver_later(EmailMessage("Tomorrow", "Body", to=["ada@example.com"]), wait_until=run_at)

    assert DelayedJob.objects.get().run_at == run_at
    work_off()
    assert smtp.messages == []
    work_off(now=lambda: run_at)
    assert smtp.wait_for_messages(1)[0]["Subject"] == "Tomorrow"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"queue": ""}, ValueError),
        ({"queue": "a,b"}, ValueError),
        ({"priority": "high"}, TypeError),
        ({"wait": "soon"}, TypeError),
    ],
)
def test_deliver_later_rejects_bad_options(smtp, options, error):
    with pytest.raises(error):
        deliver_later(EmailMessage("Hi", "Body", to=["ada@example.com"]), **options)

    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rollback_drops_email(smtp):
    with pytest.raises(RuntimeError), transaction.atomic():
        deliver_later(EmailMessage("Rolled back", "Body", to=["ada@example.com"]))
        assert DelayedJob.objects.count() == 1
        raise RuntimeError("roll back")

    assert DelayedJob.objects.count() == 0
    work_off()
    assert smtp.messages == []


@pytest.mark.django_db(transaction=True)
def test_inline_adapter_sends_at_once(smtp_server):
    with override_settings(**smtp_settings(smtp_server, QUEUE_ADAPTER="inline")):
        deliver_later(EmailMessage("Inline", "Body", to=["ada@example.com"]))

    assert smtp_server.wait_for_messages(1)[0]["Subject"] == "Inline"
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_log_lines_leave_out_body(smtp, caplog):
    caplog.set_level(logging.INFO, logger="django_activejob")

    deliver_later(EmailMessage("Reset", f"Open {SECRET_LINK}", to=["ada@example.com"]))
    work_off()

    assert "Enqueued MailDeliveryJob" in caplog.text
    assert "Performed MailDeliveryJob" in caplog.text
    assert "secret-token-123" not in caplog.text
    assert "secret-token-123" in smtp.wait_for_messages(1)[0].get_content()


# send_mail_later


@pytest.mark.django_db(transaction=True)
def test_send_mail_later_delivers(smtp):
    job = send_mail_later(
        "Hello", "Text body", None, ["ada@example.com"],
        html_message="<p>HTML body</p>", cc=["cc@example.com"], bcc=["hidden@example.com"],
        headers={"X-Source": "send_mail_later"}, priority=3,
    )

    assert isinstance(job, MailDeliveryJob)
    assert DelayedJob.objects.get().priority == 3
    assert smtp.messages == []
    work_off()

    received = smtp.wait_for_messages(1)[0]
    assert received["From"] == settings.DEFAULT_FROM_EMAIL
    assert received["To"] == "ada@example.com"
    assert received["Cc"] == "cc@example.com"
    assert received["X-Source"] == "send_mail_later"
    assert text(received.get_body(("plain",))) == "Text body"
    assert text(received.get_body(("html",))) == "<p>HTML body</p>"
    assert smtp.recipients == [["ada@example.com", "cc@example.com", "hidden@example.com"]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("fail_silently", True, "retries"),
        ("auth_user", "user", "credentials"),
        ("auth_password", "secret", "credentials"),
        ("connection", object(), "delivery settings"),
        ("using", "default", "delivery settings"),
    ],
)
def test_send_mail_later_rejects_send_mail_arguments(smtp, name, value, reason):
    with pytest.raises(TypeError, match=f"does not take '{name}'.*{reason}"):
        send_mail_later("Hi", "Body", None, ["ada@example.com"], **{name: value})

    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_send_mail_later_recipient_list_str(smtp):
    with pytest.raises(TypeError, match="must be a list or tuple"):
        send_mail_later("Hi", "Body", None, "ada@example.com")

    assert DelayedJob.objects.count() == 0


# JobEmailBackend


@pytest.mark.django_db(transaction=True)
def test_backend_send_mail_becomes_job(job_backend):
    sent = mail.send_mail("Backend", "Body", "from@example.com", ["ada@example.com"])

    assert sent == 1
    row = DelayedJob.objects.get()
    assert row.job_class == MAIL_JOB_CLASS
    assert row.queue == "mailers"
    assert job_backend.messages == []

    work_off()

    received = job_backend.wait_for_messages(1)[0]
    assert received["Subject"] == "Backend"
    assert received["From"] == "from@example.com"
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_backend_mail_admins_becomes_job(job_backend):
    admins = ["ops@example.com"] if USES_MAILERS else [("Ops", "ops@example.com")]
    with override_settings(ADMINS=admins, SERVER_EMAIL="server@example.com"):
        mail.mail_admins("Disk full", "The disk is full.", html_message="<p>The disk is full.</p>")

    assert DelayedJob.objects.get().job_class == MAIL_JOB_CLASS
    assert job_backend.messages == []

    work_off()

    received = job_backend.wait_for_messages(1)[0]
    assert received["Subject"] == "[Django] Disk full"
    assert received["To"] == "ops@example.com"
    assert received["From"] == "server@example.com"
    assert text(received.get_body(("html",))) == "<p>The disk is full.</p>"


@pytest.mark.django_db(transaction=True)
def test_backend_password_reset_becomes_job(job_backend):
    get_user_model().objects.create_user("ada", "ada@example.com", "correct-horse-battery-staple")
    form = PasswordResetForm({"email": "ada@example.com"})
    assert form.is_valid()

    form.save(domain_override="testserver")

    assert DelayedJob.objects.get().job_class == MAIL_JOB_CLASS
    assert job_backend.messages == []
    work_off()
    received = job_backend.wait_for_messages(1)[0]
    assert received["To"] == "ada@example.com"
    assert "http://testserver/accounts/reset/" in text(received)


@pytest.mark.django_db(transaction=True)
def test_backend_send_messages_counts_enqueued(job_backend):
    backend = JobEmailBackend()
    messages = [
        EmailMessage("One", "Body", to=["ada@example.com"]),
        EmailMessage("No recipients", "Body"),
        EmailMessage("Two", "Body", bcc=["hidden@example.com"]),
    ]

    assert backend.send_messages(messages) == 2
    assert backend.send_messages([]) == 0
    assert DelayedJob.objects.count() == 2
    work_off()
    assert sorted(message["Subject"] for message in job_backend.wait_for_messages(2)) == ["One", "Two"]


@pytest.mark.django_db(transaction=True)
def test_backend_send_mass_mail_becomes_jobs(job_backend):
    sent = mail.send_mass_mail([
        ("First", "Body", None, ["ada@example.com"]),
        ("Second", "Body", None, ["grace@example.com"]),
    ])

    assert sent == 2
    assert DelayedJob.objects.filter(job_class=MAIL_JOB_CLASS).count() == 2
    work_off()
    assert sorted(message["Subject"] for message in job_backend.wait_for_messages(2)) == ["First", "Second"]


@pytest.mark.skipif(not USES_MAILERS, reason="MAILERS exists on Django 6.1 and later")
@pytest.mark.django_db(transaction=True)
def test_backend_as_second_mailer(smtp_server):
    smtp = email_settings(smtp_server.url, timeout=5)["MAILERS"]["default"]
    mailers = {"default": smtp, "queued": {"BACKEND": JOB_BACKEND}}
    with override_settings(MAILERS=mailers, ACTIVEJOB=activejob_settings()):
        EmailMessage("Direct", "Body", to=["ada@example.com"]).send()
        assert smtp_server.wait_for_messages(1)[0]["Subject"] == "Direct"

        EmailMessage("Queued", "Body", to=["ada@example.com"]).send(using="queued")
        assert DelayedJob.objects.get().job_class == MAIL_JOB_CLASS
        assert len(smtp_server.messages) == 1
        work_off()

    assert smtp_server.wait_for_messages(2)[1]["Subject"] == "Queued"


@pytest.mark.django_db(transaction=True)
def test_backend_raises_for_bad_message(job_backend):
    message = EmailMessage("Bad", "Body", to=["ada@example.com"], headers={"X-Object": object()})

    with pytest.raises(SerializationError, match="header 'X-Object'"):
        message.send()

    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_backend_fail_silently_logs_bad_message(job_backend, caplog):
    backend = JobEmailBackend(fail_silently=True)
    bad = EmailMessage("Bad", "Body", to=["ada@example.com"], headers={"X-Object": object()})
    good = EmailMessage("Good", "Body", to=["ada@example.com"])

    assert backend.send_messages([bad, good]) == 1

    assert DelayedJob.objects.count() == 1
    record = next(record for record in caplog.records if record.name == "django_activejob.mail")
    assert record.levelname == "ERROR"
    assert "'Bad'" in record.getMessage()
    assert "fail_silently" in record.getMessage()
    assert record.exc_info[0] is SerializationError


# Failures and retries


@pytest.mark.django_db(transaction=True)
def test_smtp_down_then_retry_delivers(smtp):
    smtp.stop()
    deliver_later(EmailMessage("Retry", "Body", to=["ada@example.com"]))

    before = timezone.now()
    work_off()
    after = timezone.now()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    assert row.failed_at is None
    assert row.locked_by is None
    # delayed_job's backoff after attempt n is n**4 + 5 seconds.
    assert before + datetime.timedelta(seconds=6) <= row.run_at <= after + datetime.timedelta(seconds=6)

    smtp.start()
    work_off()
    assert smtp.messages == []

    run_at = row.run_at
    work_off(now=lambda: run_at + datetime.timedelta(seconds=1))
    assert smtp.wait_for_messages(1)[0]["Subject"] == "Retry"
    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_fail_silently_not_honoured_at_delivery(job_backend):
    job_backend.stop()
    with warnings.catch_warnings():
        # Django 6.1 deprecates fail_silently.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sent = mail.send_mail("Quiet", "Body", None, ["ada@example.com"], fail_silently=True)
    assert sent == 1

    work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error


@pytest.mark.django_db(transaction=True)
def test_backend_returning_zero_is_retried(smtp_server):
    with override_settings(**delivery_through("tests.testapp.emails.NothingSentBackend", smtp_server)):
        deliver_later(EmailMessage("Zero", "Body", to=["ada@example.com"]))
        work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.last_error.startswith("django_activejob.mail.jobs.MailDeliveryError: ")
    assert "returned 0 messages sent for the email 'Zero'" in row.last_error


# Delivery loops


@pytest.mark.django_db(transaction=True)
def test_loop_rejected_at_enqueue(smtp_server):
    with override_settings(**loop_settings(smtp_server)):
        with pytest.raises(ImproperlyConfigured, match="every delivery would enqueue another MailDeliveryJob"):
            mail.send_mail("Loop", "Body", None, ["ada@example.com"])
        with pytest.raises(ImproperlyConfigured, match="that is JobEmailBackend"):
            deliver_later(EmailMessage("Loop", "Body", to=["ada@example.com"]))

    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_loop_rejected_at_delivery(smtp_server):
    with override_settings(**job_backend_settings(smtp_server)):
        mail.send_mail("Loop", "Body", None, ["ada@example.com"])

    with override_settings(**loop_settings(smtp_server)):
        work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert row.last_error.startswith("django.core.exceptions.ImproperlyConfigured: MailDeliveryJob can't send")
    assert smtp_server.messages == []


@pytest.mark.django_db(transaction=True)
def test_forwarding_loop_rejected_at_delivery(smtp_server):
    with override_settings(**delivery_through("tests.testapp.emails.ForwardingBackend", smtp_server)):
        mail.send_mail("Forwarded", "Body", None, ["ada@example.com"])
        work_off()

    row = DelayedJob.objects.get()
    assert row.attempts == 1
    assert "while MailDeliveryJob (Job ID: " in row.last_error
    assert smtp_server.messages == []


@pytest.mark.django_db(transaction=True)
def test_forwarding_loop_inline_raises(smtp_server):
    forwarding = delivery_through("tests.testapp.emails.ForwardingBackend", smtp_server)
    forwarding["ACTIVEJOB"]["QUEUE_ADAPTER"] = "inline"
    with override_settings(**forwarding), pytest.raises(ImproperlyConfigured, match="forever"):
        mail.send_mail("Forwarded", "Body", None, ["ada@example.com"])

    assert DelayedJob.objects.count() == 0
    assert smtp_server.messages == []


# Invalid input


def local_subclass_message():
    class LocalEmail(EmailMessage):
        pass

    return LocalEmail("Local", "Body", to=["ada@example.com"])


class UnloadableEmail(EmailMessage):
    """Defined in a module that is not part of an installed app."""


def with_attachment(attachment):
    message = EmailMessage("Report", "Body", to=["ada@example.com"])
    message.attachments.append(attachment)
    return message


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: "ada@example.com", TypeError, "expects a django.core.mail.EmailMessage, not str"),
        (lambda: EmailMessage("Hi", "Body", to=["a@example.com"]).message(), TypeError,
         "expects a django.core.mail.EmailMessage, not "),
        (lambda: EmailMessage("Nobody", "Body"), ValueError, "'Nobody' has no recipients"),
        (lambda: EmailMessage("Line\nbreak", "Body", to=["a@example.com"]), ValueError, "(?i)newline|linefeed"),
        (lambda: with_attachment(("report.pdf", io.BytesIO(b"%PDF"), "application/pdf")), SerializationError,
         r"attachment 0 \('report.pdf'\) of the email 'Report': its content is a _io.BytesIO"),
        (lambda: with_attachment(("report.pdf", b"%PDF")), SerializationError,
         "attachment 0 of the email 'Report': expected a .filename, content, mimetype. triple"),
        (lambda: with_attachment(email.message.Message()), SerializationError, "attachment 0 of the email"),
        (lambda: EmailMessage("Hi", "Body", to=["a@example.com"], headers={"X-Id": object()}), SerializationError,
         "header 'X-Id' of the email 'Hi': values of type object are not supported"),
        (lambda: EmailMessage("Hi", 42, to=["a@example.com"]), SerializationError, "the body of the email 'Hi'"),
        (lambda: EmailMessage("Hi", "Body", to=[("Ada", "a@example.com")]), SerializationError, r"to\[0\]"),
        (lambda: TaggedEmail("Tagged", "Body", to=["a@example.com"], tags=["news"]), SerializationError,
         "attribute.s. 'tags' would be lost"),
        (local_subclass_message, SerializationError, "defined inside a function"),
        (lambda: UnloadableEmail("Hi", "Body", to=["a@example.com"]), SerializationError,
         "module 'tests.test_mail' is not part of an app in INSTALLED_APPS"),
    ],
    ids=[
        "str", "python email", "no recipients", "header newline", "file object", "two-item tuple",
        "plain Message attachment", "header object", "int body", "tuple address", "extra attribute",
        "local class", "class outside apps",
    ],
)
def test_invalid_message_rejected_at_enqueue(smtp, build, error, match):
    with pytest.raises(error, match=match):
        deliver_later(build())

    assert DelayedJob.objects.count() == 0


# System checks


def check_ids(**changes) -> list[str]:
    with override_settings(**changes):
        return [message.id for message in check_mail_delivery()]


def test_checks_pass_by_default(smtp_server):
    assert check_ids(**smtp_settings(smtp_server)) == []
    assert check_ids(**job_backend_settings(smtp_server)) == []


def test_check_reports_loop(smtp_server):
    assert check_ids(**loop_settings(smtp_server)) == ["activejob.E012"]


@pytest.mark.parametrize("value", [42, ""])
def test_check_invalid_delivery_backend(smtp_server, value):
    assert check_ids(**smtp_settings(smtp_server, MAIL_DELIVERY_BACKEND=value)) == ["activejob.E010"]


@pytest.mark.parametrize("value", [42, ""])
def test_check_invalid_delivery_mailer(smtp_server, value):
    assert check_ids(**smtp_settings(smtp_server, MAIL_DELIVERY_MAILER=value)) == ["activejob.E011"]


def test_check_unimportable_delivery_backend(smtp_server):
    ids = check_ids(**smtp_settings(smtp_server, MAIL_DELIVERY_BACKEND="no.such.Backend"))

    # With MAILERS the key is ignored, so only the warning about it remains.
    assert ids == (["activejob.W010"] if USES_MAILERS else ["activejob.E010"])


@pytest.mark.skipif(not USES_MAILERS, reason="MAILERS exists on Django 6.1 and later")
def test_check_unknown_delivery_mailer(smtp_server):
    assert check_ids(**smtp_settings(smtp_server, MAIL_DELIVERY_MAILER="smtp")) == ["activejob.E011"]


@pytest.mark.django_db(transaction=True)
def test_unimportable_delivery_backend_rejected_at_enqueue(smtp_server):
    with override_settings(**delivery_through("no.such.Backend", smtp_server)):
        with pytest.raises(ImproperlyConfigured, match=r"'no\.such\.Backend' .* could not be imported"):
            mail.send_mail("Hi", "Body", None, ["ada@example.com"])
        with pytest.raises(ImproperlyConfigured, match="could not be imported"):
            deliver_later(EmailMessage("Hi", "Body", to=["ada@example.com"]))

    assert DelayedJob.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_unknown_delivery_mailer_rejected_at_enqueue(smtp_server):
    if not USES_MAILERS:
        pytest.skip("MAILERS exists on Django 6.1 and later")
    with override_settings(**smtp_settings(smtp_server, MAIL_DELIVERY_MAILER="smtp")):
        with pytest.raises(ImproperlyConfigured, match="'smtp' is invalid"):
            deliver_later(EmailMessage("Hi", "Body", to=["ada@example.com"]))


# A real jobs_worker process


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_process_delivers(smtp, start_worker):
    deliver_later(rich_message())

    worker = start_worker("--queue", "mailers", "--exit-on-complete", EMAIL_URL=smtp.url)

    assert worker.wait() == 0, worker.output()
    received = smtp.wait_for_messages(1)[0]
    assert received["Subject"] == "Quarterly report — Grüße"
    assert attachment_payloads(received)["report.bin"] == BINARY
    assert "Performed MailDeliveryJob" in worker.output()
    assert DelayedJob.objects.count() == 0
