"""SMS and WhatsApp backends: a file backend (default), a console backend and Twilio.

Twilio is called over its REST API with `requests` (no SDK): one POST per message with a
status callback URL that names the outbox row; callbacks are signature-checked in
`messaging.views`.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone

from messaging.backends.base import BackendError, ChannelBackend, HandOff, Outbound
from messaging.backends.files import JsonFileBackend


class FileSmsBackend(JsonFileBackend):
    """Writes `<MESSAGING_OUTBOX_DIR>/<channel>/<message id>.json`: one file per message,
    never two (idempotent), so an interrupted dispatch can simply run again."""

    def payload(self, outbound: Outbound) -> dict[str, Any]:
        return {
            "message_id": outbound.message_id,
            "channel": outbound.channel,
            "to": outbound.recipient,
            "body": outbound.text,
            "handed_over_at": timezone.now().isoformat(),
        }


class ConsoleSmsBackend(ChannelBackend):
    """Prints each message to standard output (development)."""

    name = "console"

    def send(self, outbound: Outbound) -> HandOff:
        sys.stdout.write(
            f"--- {outbound.channel} to {outbound.recipient} (message {outbound.message_id})\n"
            f"{outbound.text}\n"
        )
        sys.stdout.flush()
        return HandOff(provider=self.name, provider_id=f"console-{outbound.message_id}")


# Twilio error codes that will not change on a retry (invalid or unsubscribed number, ...).
_TWILIO_PERMANENT = {21211, 21408, 21610, 21612, 21614, 63003, 63016}


class TwilioBackend(ChannelBackend):
    """Twilio Programmable Messaging for SMS and WhatsApp (`whatsapp:` addresses)."""

    name = "twilio"

    def __init__(self, *, channel: str) -> None:
        super().__init__(channel=channel)
        self._session: requests.Session | None = None

    # --- configuration ---------------------------------------------------------------------

    def _url(self, suffix: str = "") -> str:
        sid = settings.TWILIO_ACCOUNT_SID
        return f"{settings.TWILIO_API_BASE}/2010-04-01/Accounts/{sid}/Messages{suffix}.json"

    def _address(self, number: str) -> str:
        return f"whatsapp:{number}" if self.channel == "whatsapp" else number

    def _sender(self) -> dict[str, str]:
        if self.channel == "whatsapp":
            return {"From": self._address(settings.TWILIO_WHATSAPP_FROM)}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            return {"MessagingServiceSid": settings.TWILIO_MESSAGING_SERVICE_SID}
        return {"From": settings.TWILIO_FROM_NUMBER}

    def _http(self) -> requests.Session:
        if self._session is None:
            if not settings.TWILIO_ACCOUNT_SID or not settings.TWILIO_AUTH_TOKEN:
                raise BackendError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set.")
            self._session = requests.Session()
            self._session.auth = (settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- sending ---------------------------------------------------------------------------

    def send(self, outbound: Outbound) -> HandOff:
        data = {
            "To": self._address(outbound.recipient),
            "Body": outbound.text,
            **self._sender(),
        }
        if outbound.status_callback:
            data["StatusCallback"] = outbound.status_callback
        try:
            response = self._http().post(self._url(), data=data, timeout=(5, 20))
        except requests.ConnectTimeout as exc:
            raise BackendError(f"Twilio unreachable: {exc}") from exc
        except requests.RequestException as exc:
            # The request may have reached Twilio: only reconciliation can tell.
            raise BackendError(f"Twilio request interrupted: {exc}", uncertain=True) from exc
        body = _json(response)
        if response.status_code >= 400:
            code = body.get("code")
            permanent = response.status_code in (400, 404) and code in _TWILIO_PERMANENT
            raise BackendError(
                f"Twilio refused the message ({response.status_code}, code {code}): "
                f"{body.get('message', '')}",
                permanent=permanent or response.status_code in (401, 403),
            )
        sid = body.get("sid")
        if not sid:
            raise BackendError("Twilio answered without a message sid.", uncertain=True)
        return HandOff(provider=self.name, provider_id=str(sid))

    def reconcile(self, outbound: Outbound) -> HandOff | bool | None:
        """Look for the message among those sent to the recipient since the day before."""
        since = (timezone.now() - timedelta(days=1)).date().isoformat()
        params = {"To": self._address(outbound.recipient), "DateSent>": since, "PageSize": 100}
        try:
            response = self._http().get(self._url(), params=params, timeout=(5, 20))
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        for item in _json(response).get("messages", []):
            if item.get("body") == outbound.text:
                return HandOff(provider=self.name, provider_id=str(item.get("sid")))
        return False


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
