"""SmtpMailer against a real SMTP server on loopback (the ``smtp_server`` fixture)."""

from __future__ import annotations

import socket

import pytest

from aifactory.notify.mail import Mail, Mailer, MailError, SmtpMailer
from tests.mailbox import Mailbox

SENDER = "AI Factory <noreply@aifactory.example.eu>"
SECRET = "s3cr3t-pa55word"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_subject_body_and_headers_arrive(smtp_server: Mailbox) -> None:
    mailer: Mailer = SmtpMailer(smtp_server.host, smtp_server.port, SENDER)
    body = "Your proposal P-42 was accepted.\nGPU hours: 5000 — Grüße\n"
    mailer.send(Mail(to=("ada@example.eu",), subject="Decision on P-42: accepted", body=body))

    (msg,) = smtp_server.wait_for(1)
    assert msg["Subject"] == "Decision on P-42: accepted"
    assert msg["From"] == SENDER
    assert msg["To"] == "ada@example.eu"
    assert msg["Date"] is not None
    assert msg["Message-ID"].endswith("@aifactory.example.eu>")
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == body
    assert smtp_server.envelopes[0].mail_from == "noreply@aifactory.example.eu"
    assert smtp_server.envelopes[0].rcpt_tos == ("ada@example.eu",)


def test_several_recipients_get_one_message(smtp_server: Mailbox) -> None:
    to = ("ada@example.eu", "grace@example.eu", "linus@example.fi")
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, SENDER)
    mailer.send(Mail(to=to, subject="Call closes Friday", body="Reminder."))
    mailer.send(Mail(to=to[:1], subject="Second", body="Again."))

    first, second = smtp_server.wait_for(2)
    assert [a.addr_spec for a in first["To"].addresses] == list(to)
    assert smtp_server.envelopes[0].rcpt_tos == to
    assert second["Subject"] == "Second"
    assert first["Message-ID"] != second["Message-ID"]
    smtp_server.clear()
    assert smtp_server.messages == [] and smtp_server.envelopes == []


def test_server_not_listening_is_a_mail_error_without_the_password() -> None:
    port = _closed_port()
    mailer = SmtpMailer("127.0.0.1", port, SENDER, username="ops", password=SECRET, timeout_s=2)
    with pytest.raises(MailError) as caught:
        mailer.send(Mail(to=("ada@example.eu",), subject="x", body="y"))
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(mailer)


def test_login_refused_is_a_mail_error_without_the_password(smtp_server: Mailbox) -> None:
    # the test server offers no AUTH: login fails after connecting
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, SENDER, username="ops", password=SECRET)
    with pytest.raises(MailError) as caught:
        mailer.send(Mail(to=("ada@example.eu",), subject="x", body="y"))
    assert SECRET not in str(caught.value)
    assert smtp_server.messages == []


def test_header_injection_is_refused(smtp_server: Mailbox) -> None:
    mailer = SmtpMailer(smtp_server.host, smtp_server.port, SENDER)
    with pytest.raises(MailError, match="cannot be built"):
        mailer.send(Mail(to=("ada@example.eu",), subject="hi\nBcc: eve@example.eu", body="y"))
    with pytest.raises(MailError, match="no recipients"):
        mailer.send(Mail(to=(), subject="hi", body="y"))
