"""The ESP's tracking webhook, through django-anymail: the configured ESP only, authenticated,
fresh, and acted on once.

`/m/hooks/anymail/<esp>/tracking/` answers only for the ESP that sends our e-mail
(MESSAGING_EMAIL_BACKEND = "anymail.backends.<esp>.EmailBackend"); every other ESP's URL is a
404 (before, all of anymail's URLs were mounted: unconfigured ones were open to anyone, and
those whose view needs a setting or a package to start answered 500).

For the configured ESP:

- **Authentication**: anymail's basic auth (ANYMAIL_WEBHOOK_SECRET, "user:password") and/or the
  ESP's own signature where anymail checks one (Mailgun's webhook signing key, Mandrill's
  webhook key, MailerSend's and Mailtrap's signing secrets, Postal's public key, Unisender
  Go's API key, SendGrid's verification key, Resend's Svix secret). With neither, the system
  check `messaging.E001` fails and every POST is refused with a 403 (`webhook_security`).
  A request without the right credentials or signature is a 400 (anymail's
  `AnymailWebhookValidationFailure`).
- **Freshness**: where the ESP signs a timestamp (Mailgun, SendGrid; Svix checks Resend's
  itself), a signature older than MESSAGING_WEBHOOK_MAX_AGE_SECONDS, or more than five
  minutes in the future, is a 400.
- **Once**: every event is recorded under an event key (`messaging.receivers`), so the same
  event delivered twice changes nothing the second time (a 200: the ESP must stop retrying).
  Mailgun signs only a token and a timestamp, not the body, so its token is also kept
  (`WebhookReceipt`, with the body's digest, in the same transaction as the effects): the
  same request again is a 200 that changes nothing, the token with another body a 400.
- **Malformed bodies** (valid JSON of the wrong shape, JSON nested too deep for the parser)
  are a 400, never a 500. Errors after parsing, in our receiver (a database outage, say),
  stay 500s on purpose: the ESP retries those, and replays are idempotent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib.util import find_spec

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailAPIError, AnymailWebhookValidationFailure
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from messaging.services import body_digest, webhook_receipt_claim

logger = logging.getLogger(__name__)

# Errors anymail's parsing raises on a body that is not the shape the ESP sends.
_MALFORMED = (
    AttributeError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
    RecursionError,  # JSON nested deeper than the parser's recursion limit
)
FUTURE_SKEW = timedelta(minutes=5)


def _tracking_views() -> dict[str, type]:
    """anymail's tracking view class per ESP backend module name ("mailgun": ...)."""
    views = {}
    for pattern in anymail_urls.urlpatterns:
        name = pattern.name or ""
        if name.endswith("_tracking_webhook"):
            views[name.removesuffix("_tracking_webhook")] = pattern.callback.view_class
    return views


TRACKING_VIEWS: dict[str, type] = _tracking_views()


def configured_esp() -> str | None:
    """The ESP whose tracking webhook is served: the `<esp>` of the e-mail backend
    "anymail.backends.<esp>.EmailBackend" messages go through, or None (SMTP, files, an
    anymail backend without webhooks such as `test` or `console`)."""
    path = settings.MESSAGING_EMAIL_BACKEND or settings.EMAIL_BACKEND or ""
    parts = path.split(".")
    if len(parts) >= 4 and parts[:2] == ["anymail", "backends"] and parts[2] in TRACKING_VIEWS:
        return parts[2]
    return None


# --- authentication --------------------------------------------------------------------------

# The ESP's own signature, as anymail checks it: whether a view instance has its key. (ESPs not
# listed have no signature in anymail; only basic auth protects them.)
_SIGNATURE: dict[str, Callable[[object], bool]] = {
    "mailgun": lambda view: bool(view.webhook_signing_key),
    "mailersend": lambda view: bool(view.signing_secret),
    "mailtrap": lambda view: bool(view.signing_secret),
    "mandrill": lambda view: bool(view.webhook_key),
    "postal": lambda view: bool(view.webhook_key),
    "resend": lambda view: bool(getattr(view, "signing_secret", None)),
    "sendgrid": lambda view: view.webhook_verification_key is not None,
    "unisender_go": lambda view: bool(view.api_key_bytes),
}
# Packages a signature check needs that anymail only asks for at the first request.
_SIGNATURE_NEEDS = {"postal": "cryptography"}
_SIGNATURE_SETTING = {
    "mailgun": "MAILGUN_WEBHOOK_SIGNING_KEY",
    "mailersend": "MAILERSEND_SIGNING_SECRET",
    "mailtrap": "MAILTRAP_TRACKING_SECRET",
    "mandrill": "MANDRILL_WEBHOOK_KEY",
    "postal": "POSTAL_WEBHOOK_KEY",
    "resend": "RESEND_SIGNING_SECRET",
    "sendgrid": "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY",
    "unisender_go": "UNISENDER_GO_API_KEY",
}


@dataclass(frozen=True)
class WebhookSecurity:
    """How the configured ESP's webhook authenticates a request; `problem` says why it
    cannot ("" when it can)."""

    esp: str
    basic_auth: bool
    signature: bool
    problem: str


def _view_instance(esp: str):
    """anymail's view for `esp`, set up from the current settings as for a request."""
    return TRACKING_VIEWS[esp]()


def _basic_auth_valid(secrets: object) -> bool:
    """ANYMAIL_WEBHOOK_SECRET: one or more "user:password", neither part empty."""
    if isinstance(secrets, str):
        secrets = [secrets]
    if not secrets or not isinstance(secrets, list | tuple):
        return False
    for secret in secrets:
        user, colon, password = secret.partition(":") if isinstance(secret, str) else ("", "", "")
        if not (user and colon and password):
            return False
    return True


def webhook_security(esp: str) -> WebhookSecurity:
    """Whether the tracking webhook of `esp` can authenticate anything, from the settings."""
    try:
        view = _view_instance(esp)
    except (ImproperlyConfigured, ImportError) as exc:  # anymail's configuration errors
        return WebhookSecurity(esp, False, False, f"the webhook cannot start: {exc}")
    secrets = getattr(view, "basic_auth", None)
    basic = _basic_auth_valid(secrets)
    if secrets and not basic:
        return WebhookSecurity(
            esp, False, False, 'ANYMAIL_WEBHOOK_SECRET must be "user:password", neither empty'
        )
    signature = _SIGNATURE.get(esp, lambda view: False)(view)
    needs = _SIGNATURE_NEEDS.get(esp)
    if signature and needs and find_spec(needs) is None:
        return WebhookSecurity(
            esp, basic, False, f"checking {esp} signatures needs the {needs} package"
        )
    if not (basic or signature):
        setting = _SIGNATURE_SETTING.get(esp)
        how = "set ANYMAIL_WEBHOOK_SECRET (basic auth)" + (
            f" or {setting} in ANYMAIL_SETTINGS (the ESP's signature)" if setting else ""
        )
        return WebhookSecurity(esp, False, False, f"no webhook authentication: {how}")
    return WebhookSecurity(esp, basic, signature, "")


# --- freshness and replays -------------------------------------------------------------------


def _mailgun_signature(request: HttpRequest) -> tuple[str, str]:
    """(timestamp, token) of a Mailgun request, as anymail checked them."""
    if request.content_type == "application/json":
        block = json.loads(request.body.decode("utf-8"))["signature"]
        return str(block["timestamp"]), str(block["token"])
    return str(request.POST["timestamp"]), str(request.POST["token"])


def _signed_at(esp: str, view, request: HttpRequest) -> str | None:
    """The timestamp the ESP signed (seconds since the epoch, as sent), or None."""
    if esp == "mailgun":
        return _mailgun_signature(request)[0]
    if esp == "sendgrid" and view.webhook_verification_key is not None:
        return request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    return None


def _freshness_check(signed_at: str) -> None:
    if not signed_at.isascii() or not signed_at.isdigit() or len(signed_at) > 12:
        raise AnymailWebhookValidationFailure("Webhook signature timestamp is not a time.")
    now = timezone.now().timestamp()
    age = now - int(signed_at)
    if age > settings.MESSAGING_WEBHOOK_MAX_AGE_SECONDS:
        raise AnymailWebhookValidationFailure("Webhook signature is too old (a replay?).")
    if -age > FUTURE_SKEW.total_seconds():
        raise AnymailWebhookValidationFailure("Webhook signature is from the future.")


class _Replayed(Exception):
    """The request was already acted on: answer 200 and change nothing."""


def _guarded(esp: str, view_class: type) -> type:
    class GuardedWebhookView(view_class):
        def run_validators(self, request):
            try:
                super().run_validators(request)  # basic auth, the ESP's signature
                signed_at = _signed_at(esp, self, request)
                if signed_at is not None:
                    _freshness_check(signed_at)
            except (*_MALFORMED, AnymailAPIError) as exc:  # SES: a body that is not SNS
                raise AnymailWebhookValidationFailure("Malformed webhook body.") from exc
            if esp == "mailgun":
                self._receipt_claim(request)

        def _receipt_claim(self, request):
            token = _mailgun_signature(request)[1]
            claim = webhook_receipt_claim(
                key=f"anymail:{esp}:{token}",
                source=f"anymail:{esp}",
                digest=body_digest(request.body),
            )
            if claim == "replay":
                raise _Replayed
            if claim == "conflict":
                raise AnymailWebhookValidationFailure("Webhook signature reused for another body.")

        def parse_events(self, request):
            try:
                return super().parse_events(request)
            except _MALFORMED as exc:
                raise AnymailWebhookValidationFailure("Malformed webhook body.") from exc

        def post(self, request, *args, **kwargs):
            # With a receipt, the receipt and the events' effects commit together.
            try:
                with transaction.atomic() if esp == "mailgun" else nullcontext():
                    return super().post(request, *args, **kwargs)
            except _Replayed:
                return HttpResponse()

    GuardedWebhookView.__name__ = GuardedWebhookView.__qualname__ = f"Guarded{view_class.__name__}"
    return GuardedWebhookView


@cache
def _view(esp: str) -> Callable[[HttpRequest], HttpResponse]:
    return _guarded(esp, TRACKING_VIEWS[esp]).as_view()


@csrf_exempt
def tracking(request: HttpRequest, esp: str) -> HttpResponse:
    """`/m/hooks/anymail/<esp>/tracking/`: the configured ESP's events, or a 404."""
    if esp != configured_esp():
        raise Http404
    security = webhook_security(esp)
    if security.problem:
        logger.error("anymail webhook refused: esp=%s problem=%s", esp, security.problem)
        if request.method == "HEAD":  # ESPs check the URL exists when it is set up
            return HttpResponse()
        return HttpResponseForbidden("This webhook has no authentication configured.")
    return _view(esp)(request)
