"""Public endpoints: open pixel, click redirect, unsubscribe (RFC 8058 one-click), and the
Twilio status and inbound webhooks. Every token is signed (messaging.tracking): a forged or
altered one is a 404, and a click only ever redirects to a link of the message itself."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Debtor
from messaging import services, tracking, webhooks
from messaging.models import Channel, Message

logger = logging.getLogger(__name__)

_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
@require_GET
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    message_id = tracking.open_read(token)
    if message_id is None or not services.message_open(message_id=message_id):
        raise Http404
    return HttpResponse(_PIXEL, content_type="image/gif")


@never_cache
@require_GET
def click(request: HttpRequest, token: str) -> HttpResponse:
    parsed = tracking.click_read(token)
    if parsed is None:
        raise Http404
    target = services.message_click(message_id=parsed[0], index=parsed[1])
    if target is None:
        raise Http404
    response = HttpResponseRedirect(target)
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@csrf_exempt  # RFC 8058: mail clients POST without a CSRF token; the signed token authorises
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation button (link scanners must not unsubscribe anyone); POST —
    the button or a mail client's one-click `List-Unsubscribe=One-Click` — opts out."""
    parsed = tracking.unsubscribe_read(token)
    if parsed is None:
        raise Http404
    debtor_id, channel, message_id = parsed
    if request.method == "GET":
        template = "messaging/unsubscribe.html"
    else:
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        debtor = services.unsubscribe_apply(
            debtor_id=debtor_id,
            channel=channel,
            message_id=message_id,
            source="one-click" if one_click else "unsubscribe-page",
        )
        if debtor is None:
            raise Http404
        template = "messaging/unsubscribed.html"
    # The page speaks the debtor's language (English when the debtor is gone or speaks
    # another one); the channel is named in it too.
    language = Debtor.objects.filter(pk=debtor_id).values_list("language", flat=True).first()
    language = language if language in dict(settings.LANGUAGES) else "en"
    with translation.override(language):
        channel_name = str(dict(Channel.choices).get(channel, channel))
        context = {"channel": channel_name, "token": token, "language": language}
        return render(request, template, context)


def _twilio_valid(request: HttpRequest) -> bool:
    path = request.get_full_path()
    return webhooks.twilio_request_valid(
        urls=[settings.SITE_URL + path, request.build_absolute_uri(path)],
        params={k: request.POST.getlist(k) for k in request.POST},
        signature=request.headers.get("X-Twilio-Signature", ""),
    )


def _twilio_webhook(view: Callable[[HttpRequest], HttpResponse]) -> Callable:
    """A Twilio webhook: POST only, no CSRF token (Twilio has none), and a 403 unless the
    X-Twilio-Signature checks out."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def checked(request: HttpRequest) -> HttpResponse:
        if not _twilio_valid(request):
            return HttpResponse("invalid signature", status=403)
        return view(request)

    return checked


def _twilio_sid(request: HttpRequest) -> str:
    """The provider's id of the message a Twilio webhook is about (MessageSid, or the older
    SmsSid), or "" when the request names none."""
    return (request.POST.get("MessageSid") or request.POST.get("SmsSid") or "").strip()


@_twilio_webhook
def twilio_status(request: HttpRequest) -> HttpResponse:
    """Twilio's status callback for a message we sent (`?m=<message id>` in the URL).

    Recorded once per (MessageSid, status): a replayed callback is a 204 that changes nothing
    (Twilio treats any 2xx as done; a 4xx would only fill its debugger with errors)."""
    status = request.POST.get("MessageStatus", "")
    sid = _twilio_sid(request)
    if not sid:
        return HttpResponseBadRequest("MessageSid is missing.")
    kind = webhooks.TWILIO_STATUS_EVENTS.get(status)
    if kind is None:
        return HttpResponse(status=204)  # queued/sending/sent: nothing to record
    pk = webhooks.message_pk(request.GET.get("m"))
    message = Message.objects.filter(pk=pk).first() if pk is not None else None
    if message is None or (message.provider_id and message.provider_id != sid):
        return HttpResponse(status=204)
    data = {"status": status}
    if request.POST.get("ErrorCode"):
        data["reason"] = f"Twilio error {request.POST['ErrorCode']}"
    services.event_record(
        message=message,
        kind=kind,
        event_key=f"twilio:{sid}:{status}",  # a replayed callback records nothing new
        source="twilio",
        data=data,
    )
    return HttpResponse(status=204)


@_twilio_webhook
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """Twilio's inbound message webhook (SMS and WhatsApp): STOP opts out, START back in.

    Acted on once per MessageSid: a replayed request (a captured START sent again after a STOP,
    say) gets the same empty answer and changes nothing."""
    sid = _twilio_sid(request)
    if not sid:
        return HttpResponseBadRequest("MessageSid is missing.")
    sender = request.POST.get("From", "")
    outcome = services.sms_inbound_handle(
        from_number=sender,
        body=request.POST.get("Body", ""),
        channel="whatsapp" if sender.startswith("whatsapp:") else "sms",
        provider="twilio",
        provider_message_id=sid,
    )
    logger.info("twilio inbound handled: outcome=%s", outcome)
    return HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
        content_type="text/xml",
    )
