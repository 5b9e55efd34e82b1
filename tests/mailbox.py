"""Pytest plugin: a real SMTP server on loopback (aiosmtpd) that keeps what it receives.

Register with ``pytest_plugins = ["tests.mailbox"]`` in the root conftest (or ``-p tests.mailbox``).

    def test_x(smtp_server: Mailbox) -> None:
        SmtpMailer(smtp_server.host, smtp_server.port, "noreply@example.eu").send(mail)
        (msg,) = smtp_server.wait_for(1)
        assert msg["Subject"] == "..."
        assert smtp_server.envelopes[0].rcpt_tos == ("a@example.eu",)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Envelope:
    """The SMTP envelope of one received message (what MAIL FROM / RCPT TO said)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


class Mailbox:
    """What the server received, in arrival order; ``envelopes[i]`` belongs to ``messages[i]``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        # store as a mailbox would: local line endings, not the wire's CRLF
        msg = BytesParser(policy=default_policy).parsebytes(raw.replace(b"\r\n", b"\n"))
        assert isinstance(msg, EmailMessage)
        with self._arrived:
            self.messages.append(msg)
            self.envelopes.append(Envelope(envelope.mail_from, tuple(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived; return them all (a copy)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    subjects = [m["Subject"] for m in self.messages]
                    raise AssertionError(
                        f"expected {count} message(s) within {timeout}s, got "
                        f"{len(self.messages)}: {subjects}"
                    )
                self._arrived.wait(left)
            return list(self.messages)

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()
            self.envelopes.clear()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 and a free port, stopped after the test."""
    error: Exception | None = None
    for _ in range(3):  # the free port may be taken between probing and binding
        box = Mailbox(HOST, _free_port())
        controller = Controller(
            box, hostname=HOST, port=box.port, server_hostname="mailbox.test", ready_timeout=5.0
        )
        try:
            controller.start()
        except Exception as exc:  # bind failure surfaces here
            error = exc
            continue
        try:
            yield box
        finally:
            controller.stop()
        return
    raise RuntimeError(f"could not start the test SMTP server: {error}")
