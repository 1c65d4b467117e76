"""Email through Django's email backends: SMTP in production (EMAIL_URL), an ESP through
django-anymail (MESSAGING_EMAIL_BACKEND = "anymail.backends.<esp>.EmailBackend"), locmem in
tests. Opens and clicks are tracked by messaging itself, so ESP tracking is switched off."""

from __future__ import annotations

import hashlib
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from messaging.backends.base import BackendError, ChannelBackend, HandOff, Outbound
from messaging.backends.files import JsonFileBackend


def message_id_header(message_id: int) -> str:
    """A stable RFC 5322 Message-ID for an outbox row (bounces quote it back)."""
    domain = settings.MESSAGING_FROM_EMAIL.rpartition("@")[2].strip(">") or "localhost"
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{message_id}".encode()).hexdigest()[:12]
    return f"<msg-{message_id}.{digest}@{domain}>"


class EmailBackend(ChannelBackend):
    """One Django email connection per dispatch run; one `send` per message."""

    name = "email"
    idempotent = False

    def __init__(self, *, channel: str) -> None:
        super().__init__(channel=channel)
        self._connection = None

    @property
    def provider(self) -> str:
        path = settings.MESSAGING_EMAIL_BACKEND or settings.EMAIL_BACKEND
        if path.startswith("anymail.backends."):
            return "anymail:" + path.split(".")[2]
        return "smtp" if path.endswith("smtp.EmailBackend") else path.rsplit(".", 2)[-2]

    def _get_connection(self):
        if self._connection is None:
            self._connection = get_connection(settings.MESSAGING_EMAIL_BACKEND or None)
        return self._connection

    def open(self) -> None:
        try:
            self._get_connection().open()
        except (OSError, smtplib.SMTPException) as exc:
            self._connection = None
            raise BackendError(f"Cannot connect to the mail server: {exc}") from exc

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def build(self, outbound: Outbound) -> EmailMultiAlternatives:
        """The email for one outbound message (headers from messaging: List-Unsubscribe...)."""
        headers = {"Message-ID": message_id_header(outbound.message_id), **outbound.headers}
        email = EmailMultiAlternatives(
            subject=outbound.subject,
            body=outbound.text,
            from_email=settings.MESSAGING_FROM_EMAIL,
            to=[outbound.recipient],
            headers=headers,
            connection=self._connection,
        )
        if outbound.html:
            email.attach_alternative(outbound.html, "text/html")
        # Read by django-anymail backends only: we track opens and clicks ourselves, and the
        # metadata lets tracking webhooks name the outbox row.
        email.track_opens = False
        email.track_clicks = False
        email.metadata = {"message_id": str(outbound.message_id)}
        return email

    def send(self, outbound: Outbound) -> HandOff:
        email = self.build(outbound)
        email.connection = self._get_connection()
        try:
            sent = email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise BackendError(f"Recipient refused: {exc}", permanent=True) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._connection = None  # a broken connection is not reused
            raise BackendError(f"Mail server error: {exc}") from exc
        except Exception as exc:  # anymail raises AnymailError subclasses (API errors)
            if exc.__class__.__module__.startswith("anymail"):
                permanent = exc.__class__.__name__ in {
                    "AnymailRecipientsRefused",
                    "AnymailInvalidAddress",
                }
                raise BackendError(f"Email provider error: {exc}", permanent=permanent) from exc
            raise
        if not sent:
            raise BackendError("The mail backend accepted nothing.")
        status = getattr(email, "anymail_status", None)
        provider_id = getattr(status, "message_id", None) if status is not None else None
        if provider_id is None:
            provider_id = headers_id(email)
        return HandOff(provider=self.provider, provider_id=str(provider_id))


def headers_id(email: EmailMultiAlternatives) -> str:
    return email.extra_headers.get("Message-ID", "")


class FileEmailBackend(JsonFileBackend):
    """Development and benchmarks: each email as `<MESSAGING_OUTBOX_DIR>/email/<id>.json`
    (sender, recipient, subject, headers, text and HTML parts), written once (idempotent),
    instead of being sent."""

    def receipt(self, message_id: int) -> HandOff:
        return HandOff(provider=self.name, provider_id=message_id_header(message_id))

    def payload(self, outbound: Outbound) -> dict[str, Any]:
        return {
            "message_id": outbound.message_id,
            "from": settings.MESSAGING_FROM_EMAIL,
            "to": outbound.recipient,
            "subject": outbound.subject,
            "headers": {"Message-ID": message_id_header(outbound.message_id), **outbound.headers},
            "text": outbound.text,
            "html": outbound.html,
        }
