"""Telling a creditor that one of its webhook endpoints was disabled.

There is no notification channel to creditors besides e-mail: every user bound to the
creditor (`CreditorUser`) that has an e-mail address gets one, through Django's mail
(`EMAIL_BACKEND`). The endpoint also shows it: `enabled: false` with `disabled_at` and
`disabled_reason` in the API and the admin.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from accounts.models import CreditorUser
from accounts.webhooks.models import WebhookEndpoint

logger = logging.getLogger(__name__)


def endpoint_disabled(endpoint_id: int) -> int:
    """E-mail the creditor's users that the endpoint was disabled; how many were written to."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).select_related("creditor").first()
    if endpoint is None:
        return 0
    recipients = sorted(
        {
            email
            for email in CreditorUser.objects.filter(creditor_id=endpoint.creditor_id)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
            if email
        }
    )
    if not recipients:
        logger.warning("webhook endpoint %s disabled; its creditor has no e-mail", endpoint.pk)
        return 0
    send_mail(
        subject=f"Webhook endpoint disabled: {endpoint.url[:80]}",
        message=(
            f"Deliveries to your webhook endpoint {endpoint.url} (id {endpoint.pk}) failed for "
            f"3 days, so it was disabled and no events are sent to it.\n\n"
            f"Last failure: {endpoint.disabled_reason}\n\n"
            "Fix the receiver, then enable the endpoint again (PATCH "
            f'/api/v1/webhook-endpoints/{endpoint.pk}/ with {{"enabled": true}}). The events '
            "it missed are in GET /api/v1/events/ (30 days), and each failed delivery can be "
            "sent again (POST .../deliveries/<id>/resend/)."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
        fail_silently=True,
    )
    return len(recipients)
