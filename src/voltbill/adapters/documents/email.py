"""Invoice e-mail over SMTP. ``VOLTBILL_SMTP_URL``: ``smtp://[user:pass@]host[:port]`` (plain, port 25),
``smtp+starttls://...`` (STARTTLS, port 587) or ``smtps://...`` (implicit TLS, port 465)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

from voltbill.domain.errors import InvalidInput

_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where mail goes: ``scheme`` (smtp, smtp+starttls, smtps), ``host``, ``port``, optional credentials."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def smtp_target(url: str) -> SmtpTarget:
    """Parse ``VOLTBILL_SMTP_URL``; an unknown scheme or a missing host is refused by name."""
    parts = urlsplit(url)
    if parts.scheme not in _PORTS or not parts.hostname:
        raise InvalidInput(
            "SMTP URL must look like smtp://user:pass@host:port, smtp+starttls://... or smtps://...",
            field="VOLTBILL_SMTP_URL",
        )
    return SmtpTarget(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or _PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def invoice_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    sent_at: datetime,
    pdf: bytes,
    filename: str,
) -> EmailMessage:
    """A message with the invoice PDF attached. ``message_id`` is derived from the invoice number, so a retry after a
    crash between the SMTP answer and the database commit carries the same Message-ID and mail systems can
    recognise it as the same message."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(sent_at)
    message.set_content(body)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)
    return message


def send(target: SmtpTarget, message: EmailMessage, timeout: float) -> None:
    """Hand ``message`` to the SMTP server, each step waiting at most ``timeout`` seconds; returns only when the server
    accepted it (raises otherwise)."""
    smtp: smtplib.SMTP
    if target.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
    with smtp:
        if target.scheme == "smtp+starttls":
            smtp.starttls(context=ssl.create_default_context())
        if target.username:
            smtp.login(target.username, target.password or "")
        refused = smtp.send_message(message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
