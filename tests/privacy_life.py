"""One debtor's whole life through the real services, for the privacy tests: placed with three
accounts, messaged by e-mail, SMS and letter (sent through the file backends, so the outbox
folder holds them), planned for by the recommender, a reply, a payment, a plan, a pause, a
dispute with a document, a call-back request, a failed identity check, a fresh-link request
and a typology. Every personal value is distinctive, so a search for it finds only this
debtor's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from accounts.models import Account, Creditor, Debtor
from accounts.tests.factories import place, row

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # 11:00 in Boston: inside every contact window

FIRST, LAST = "Wilhelmina", "Quillfeather"
EMAIL = "wilhelmina.quillfeather@example.org"
PHONE = "+16175550187"
STREET = "42 Juniper Crescent"
SECRETS = (FIRST, LAST, EMAIL, PHONE)
DOCUMENT = b"%PDF-1.4 payslip of Wilhelmina Quillfeather, 42 Juniper Crescent"


@dataclass
class Life:
    debtor: Debtor
    accounts: list[Account]


def variants() -> None:
    from recommender.tests.conftest import make_variant

    make_variant(name="email", channel="email")
    make_variant(name="sms", channel="sms")
    make_variant(name="letter", channel="letter")


def debtor_row(n: int, ref: str = "WQ", **debtor) -> dict:
    return row(
        f"{ref}-{n}",
        debtor={
            "external_ref": ref,
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "phone": PHONE,
            "address_line1": STREET,
            **debtor,
        },
    )


def live(creditor: Creditor, *, ref: str = "WQ") -> Life:
    """Everything above, at `NOW` (variants must exist: `variants()`)."""
    from accounts import services as accounts
    from accounts.links import portal_token_make
    from messaging import services as messaging
    from messaging.models import Message, MessageVariant
    from portal import services as portal
    from portal.models import CALLBACK_HOURS, DisputeReason
    from recommender import services as recommender

    with (
        time_machine.travel(NOW, tick=False),
        override_settings(
            RECOMMENDER_RANDOM_SEED=1,
            MESSAGING_EMAIL_CHANNEL_BACKEND="messaging.backends.email.FileEmailBackend",
        ),
    ):
        a1, a2, a3 = place(creditor, *(debtor_row(n, ref) for n in (1, 2, 3)))
        debtor = a1.debtor
        recommender.plan_contacts()
        for variant in MessageVariant.objects.filter(live=True):
            messaging.message_send(account=a1, variant=variant, slot=f"life-{variant.channel}")
        due = max(Message.objects.filter(debtor=debtor).values_list("due_at", flat=True))
        messaging.dispatch_due(now=due + timedelta(minutes=1))
        sent = Message.objects.filter(debtor=debtor, sent_at__isnull=False)
        assert {m.channel for m in sent} >= {"email", "sms", "letter"}, "the pipeline sent little"
        email = sent.filter(channel="email").first()
        messaging.event_record(
            message=email, kind="opened", event_key=f"{ref}-open", source="tracking"
        )
        messaging.sms_inbound_handle(
            from_number=PHONE,
            body=f"This is {FIRST} {LAST}, I will call you",
            channel="sms",
            provider="twilio",
            provider_message_id=f"SM{ref}",
        )
        accounts.payment_record(
            account=a1, amount=Decimal("10.00"), idempotency_key=f"{ref}-pay", method="card",
            actor="test",
        )  # fmt: skip
        portal.plan_accept(account=a2, frequency="monthly", count=3, first_due=date(2026, 3, 20))
        portal.pause_request(account=a1, reason="illness", days=10)
        portal.dispute_raise(
            account=a3,
            reason=DisputeReason.NOT_MINE,
            details=f"I am {FIRST} {LAST} ({EMAIL}); this is not my debt.",
            document=SimpleUploadedFile("my payslip.pdf", DOCUMENT, "application/pdf"),
        )
        portal.callback_request(
            debtor=debtor, account=a1, day=date(2026, 3, 12), window=next(iter(CALLBACK_HOURS))
        )
        portal.identity_verify(
            debtor_id=debtor.pk, jti=f"{ref}jti", ip="203.0.113.9", date_of_birth=None,
            postal_code="00000",
        )  # fmt: skip
        portal.link_request(token=portal_token_make(debtor_id=debtor.pk))
        recommender.typology_refresh(debtor_ids=[debtor.pk])
    debtor.refresh_from_db()
    return Life(debtor, [a1, a2, a3])
