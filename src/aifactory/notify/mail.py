"""Outgoing mail: a small ``Mailer`` interface and its SMTP adapter (stdlib ``smtplib``)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol


@dataclass(frozen=True)
class Mail:
    to: tuple[str, ...]
    subject: str
    body: str  # plain text


class MailError(Exception):
    """Mail could not be handed to the mail server. The message never contains a password."""


class Mailer(Protocol):
    def send(self, mail: Mail) -> None:
        """Deliver ``mail`` to the mail server; raise ``MailError`` on failure."""
        ...


class SmtpMailer:
    """Sends mail through one SMTP server, optionally with STARTTLS and login."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.starttls = starttls
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"SmtpMailer(host={self.host!r}, port={self.port}, sender={self.sender!r})"

    def _message(self, mail: Mail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(mail.to)
        msg["Subject"] = mail.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or None
        msg["Message-ID"] = make_msgid(domain=domain)
        msg.set_content(mail.body)
        return msg

    def send(self, mail: Mail) -> None:
        if not mail.to:
            raise MailError("Mail has no recipients.")
        try:
            msg = self._message(mail)
        except ValueError as exc:  # e.g. a line break in a header: refuse, never inject
            raise MailError(f"Mail cannot be built: {exc}") from None
        where = f"{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username is not None:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(msg, from_addr=self.sender, to_addrs=list(mail.to))
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"SMTP login as {self.username!r} at {where} refused ({exc.smtp_code})."
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(f"Sending mail via {where} failed: {self._scrub(exc)}") from exc
        if refused:
            raise MailError(
                f"Mail server {where} refused recipients: {', '.join(sorted(refused))}."
            )

    def _scrub(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        if self._password:
            text = text.replace(self._password, "***")
        return text
