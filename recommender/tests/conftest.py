"""Fixtures of the recommender tests: a small live variant library and placed accounts.

Variants are published through Wagtail's revisions (live, with a live revision), accounts are
placed through `accounts.services`, so the planner sees states the product can reach. Each
test resets the process's loaded model and the compliance rules cache.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    from compliance.selectors import rules_cache_reset
    from recommender import services

    cache.clear()
    rules_cache_reset()
    services.policy_forget()
    yield
    services.policy_forget()
    rules_cache_reset()


def make_variant(
    *,
    name: str,
    channel: str = "email",
    tone: str = "friendly",
    cta: str = "pay_in_full",
    stages: list[str] | None = None,
    language: str = "en",
    regions: list[str] | None = None,
    live: bool = True,
):
    """A variant published through a Wagtail revision (live and approved) unless live=False."""
    from messaging.models import MessageVariant, Tone

    tone_obj, _ = Tone.objects.get_or_create(slug=tone, defaults={"name": tone.title()})
    variant = MessageVariant(
        name=name,
        channel=channel,
        language=language,
        tone=tone_obj,
        cta=cta,
        stages=stages or ["first_contact", "early", "mid", "late"],
        regions=regions or [],
        email_subject="About your {{ creditor_name }} account",
        email_body="Hello {{ first_name }}, you owe {{ balance }}. Pay here: {{ portal_link }}",
        sms_text="Hi {{ first_name }}, {{ balance }} is due: {{ portal_link }}",
        letter_body="Dear {{ first_name }}, your balance is {{ balance }}.",
    )
    variant.full_clean()
    variant.save()
    if live:
        variant.save_revision().publish()
        variant.refresh_from_db()
    return variant


@pytest.fixture
def library(db) -> list[Any]:
    """Six live English variants: two tones x email/SMS, a firm letter, and a plan reminder."""
    return [
        make_variant(name="friendly email", channel="email", tone="friendly"),
        make_variant(name="firm email", channel="email", tone="firm", cta="payment_plan"),
        make_variant(name="friendly sms", channel="sms", tone="friendly"),
        make_variant(name="empathetic sms", channel="sms", tone="empathetic", cta="contact_us"),
        make_variant(name="firm letter", channel="letter", tone="firm"),
        make_variant(
            name="plan reminder",
            channel="email",
            tone="friendly",
            cta="pay_instalment",
            stages=["plan_reminder", "missed_instalment"],
        ),
    ]


def place_accounts(creditor, n: int, start: int = 1, **debtor: Any) -> list[Any]:
    """Place `n` accounts (US-MA debtors with email, phone and address) through the service."""
    from accounts.tests.factories import place, row

    return place(creditor, *(row(start + i, debtor=debtor) for i in range(n)))


SIM_BACKENDS = {
    "MESSAGING_EMAIL_CHANNEL_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_SMS_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_WHATSAPP_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_LETTER_BACKEND": "recommender.simulator.SimulatedBackend",
}


@pytest.fixture
def sim_backends(settings):
    """Every channel handed to the simulator's in-memory backend (the provider is mocked)."""
    from recommender import simulator

    for name, value in SIM_BACKENDS.items():
        setattr(settings, name, value)
    simulator.OUTBOX.clear()
    yield simulator.OUTBOX
    simulator.OUTBOX.clear()


@pytest.fixture
def clock():
    """A frozen clock at Tuesday 10 March 2026 13:00 UTC (09:00 in Boston); move it with
    `clock.move_to(...)` or `clock.shift(...)`."""
    import time_machine

    with time_machine.travel(utc(2026, 3, 10, 13, 0), tick=False) as traveller:
        yield traveller


def send_and_dispatch(account, variant, *, at, arm="policy", propensity=0.5):
    """Plan a message through messaging's one way out and hand it to the backend at `at`."""
    from messaging import services as messaging

    message = messaging.message_send(
        account=account, variant=variant, planned_at=at, slot=f"test:{at.isoformat()}",
        stage="early", arm=arm, propensity=propensity,
    )  # fmt: skip
    messaging.dispatch_due(now=at)
    message.refresh_from_db()
    return message


def record_event(message, kind: str, at):
    from messaging import services as messaging

    return messaging.event_record(
        message=message, kind=kind, event_key=f"{kind}:{message.pk}", source="tracking",
        occurred_at=at,
    )  # fmt: skip
