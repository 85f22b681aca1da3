"""The formation e-mail and its sending over SMTP (smtplib; settings SMTP_*)."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

SMTP_TIMEOUT_SECONDS = 30


def enabled(config: dict[str, Any]) -> bool:
    """E-mail is off until SMTP_HOST is configured."""
    return bool(config.get("SMTP_HOST"))


def wants_email(settings: dict, config: dict[str, Any]) -> bool:
    """A user gets the e-mail when they keep it on, gave an address, and SMTP is set up."""
    return bool(settings.get("email") and settings.get("email_address") and enabled(config))


def formed_body(segment: dict, result: dict, at: str) -> str:
    """The plain-text body of the formation e-mail."""
    return (f"Segment {segment.get('name') or segment['code']} (code {segment['code']}) "
            f"was formed at {at}.\n\n"
            f"Customers: {result.get('count', 0)}\n"
            f"Entered: {result.get('entered', 0)}\n"
            f"Left: {result.get('left', 0)}\n"
            f"Reason: {result.get('reason') or '-'}\n\n"
            "You receive this because you created the segment; turn these e-mails off with\n"
            "PUT /api/v1/notification-settings {\"email\": false}.\n")


def build_message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    """A plain-text UTF-8 message with the headers a mail server expects."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    # A segment name may hold a line break; a header must not (no header injection).
    message["Subject"] = " ".join(subject.splitlines())
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(body)
    return message


def send(config: dict[str, Any], message: EmailMessage) -> None:
    """Send over SMTP_HOST:SMTP_PORT (STARTTLS and login when configured); raises on failure."""
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]),
                      timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("SMTP_USER"):
            smtp.login(config["SMTP_USER"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)
