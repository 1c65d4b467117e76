"""One creditor's life so far, made through the real services, for the tenancy tests: the
back office's pages must show a creditor's staff that creditor's rows only.

`seed` makes, for one creditor, every kind of row the admins list: placements, a payment, a
plan, planning with decisions and compliance checks, dispatch, an event, a failed message
(the hand-offs queue), a call-back request, a dispute (with the debtor's statement and, given
`document`, an uploaded document), a fresh-link request, typologies, an API user with a key,
a webhook endpoint with deliveries, a privacy export and a staff access row. Every reference,
name and address it writes carries `prefix`, so a page that shows another creditor's row
can be caught by looking for it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in Boston: inside every contact window
PDF = b"%PDF-1.4\n% a debtor's proof\n"


def seed(creditor, prefix: str, *, surname: str = "Lovelace", document: bool = False) -> None:
    """`creditor`'s life through the services (run under a fixed clock, `NOW`)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts import services as accounts
    from accounts.links import portal_token_make
    from accounts.services import debtor_data_access_record
    from accounts.tests.factories import api_user, place, row
    from accounts.webhooks.models import WebhookEndpoint
    from collections_site.privacy import services as privacy
    from messaging import services as messaging
    from messaging.models import Message, MessageStatus
    from portal import services as portal
    from portal.models import CALLBACK_HOURS, DisputeReason
    from recommender import services as recommender

    # Saved as is (the API would resolve the host): the events below get deliveries to it.
    WebhookEndpoint.objects.create(creditor=creditor, url=f"https://{prefix}.example.com/in")
    rows = [
        row(
            f"{prefix}-{n}",
            debtor={"last_name": surname, "email": f"{prefix.lower()}.{n}@example.com"},
        )
        for n in (1, 2, 3)
    ]
    a1, a2, a3 = place(creditor, *rows)
    accounts.payment_record(
        account=a1, amount=Decimal("10.00"), idempotency_key=f"{prefix}-pay",
        method="card", actor="test",
    )  # fmt: skip
    accounts.plan_create(
        account=a2, frequency="monthly", count=3, first_due=date(2026, 4, 1), actor="test"
    )
    recommender.plan_contacts()
    planned = Message.objects.filter(creditor=creditor)
    messaging.dispatch_due(now=max(m.due_at for m in planned) + timedelta(minutes=1))
    sent = Message.objects.filter(creditor=creditor, sent_at__isnull=False)
    message = sent.first()
    assert message is not None, "the pipeline sent nothing for " + prefix
    messaging.event_record(
        message=message, kind="opened", event_key=f"{prefix}-open", source="tracking"
    )
    # The hand-offs queue's row: a message its provider refused after every retry.
    failed = sent.exclude(pk=message.pk).first() or message
    Message.objects.filter(pk=failed.pk).update(
        status=MessageStatus.FAILED, status_reason="backend refused: 550 mailbox unavailable"
    )
    portal.callback_request(
        debtor=a3.debtor, account=a3, day=date(2026, 3, 12), window=next(iter(CALLBACK_HOURS))
    )
    portal.dispute_raise(
        account=a3,
        reason=DisputeReason.values[0],
        details=f"{prefix} statement: not mine, never signed",
        document=SimpleUploadedFile(f"{prefix}-proof.pdf", PDF) if document else None,
    )
    portal.link_request(token=portal_token_make(debtor_id=a1.debtor_id))
    recommender.typology_refresh()
    api_user(creditor, username=f"{prefix}-api")
    privacy.debtor_export(debtor=a1.debtor, actor="test")
    debtor_data_access_record(user=None, debtor=a1.debtor, page="/seen/")


def make_variants() -> None:
    """An email and an SMS variant, live, for the planner to choose from."""
    from recommender.tests.conftest import make_variant

    make_variant(name="email", channel="email")
    make_variant(name="sms", channel="sms")
