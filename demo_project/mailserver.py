"""An SMTP server on 127.0.0.1 that keeps what it receives, for the demo and the tests."""

from __future__ import annotations

import email
import email.message
import email.policy
import socket
import threading
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        #: The envelope recipients of each message, Bcc included.
        self.recipients: list[list[str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class SMTPServer:
    """An SMTP server on 127.0.0.1 that can be stopped and started on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.collector = _Collector()
        self.controller = None

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        with self.collector.lock:
            return list(self.collector.messages)

    @property
    def recipients(self) -> list[list[str]]:
        """The sorted envelope recipients of each message, Bcc included."""
        with self.collector.lock:
            return [sorted(recipients) for recipients in self.collector.recipients]

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        # Imported here so run_demo.py can import this module before aiosmtpd is installed.
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.collector, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for_messages(self, count: int, timeout: float = 20.0) -> list[email.message.EmailMessage]:
        """Return the messages once there are ``count``; raise TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise TimeoutError(
            f"the SMTP server received {len(self.messages)} message(s) within {timeout:.0f} s; "
            f"expected {count}."
        )
