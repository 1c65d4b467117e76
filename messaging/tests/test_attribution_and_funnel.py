"""Last-touch conversion attribution and the variant funnel shown in the listing."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.models import Activity, ActivityKind
from messaging import selectors, services
from messaging.models import EventKind, MessageEvent

pytestmark = pytest.mark.django_db


def _sent(clock, variant, account, slot):
    message = services.message_send(account=account, variant=variant, planned_at=clock.now,
                                    slot=slot)  # fmt: skip
    services.dispatch_due()
    message.refresh_from_db()
    assert message.sent_at is not None
    return message


def test_a_payment_within_the_window_converts_the_last_touched_message(
    clock, make_variant, place_one
):
    variant = make_variant("email")
    account = place_one()
    first = _sent(clock, variant, account, "a")
    services.message_open(message_id=first.pk)
    clock.set(clock.now + timedelta(days=1))
    second = _sent(clock, variant, account, "b")
    services.message_click(message_id=second.pk, index=0)
    clock.set(clock.now + timedelta(days=2))
    credited = services.conversion_attribute(
        account=account, at=clock.now, kind="payment", reference="pay-1"
    )
    assert credited == second  # last touch
    again = services.conversion_attribute(
        account=account, at=clock.now, kind="payment", reference="pay-1"
    )
    assert again == second
    assert MessageEvent.objects.filter(kind=EventKind.CONVERTED).count() == 1  # idempotent
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.converted_at == clock.now and first.converted_at is None
    converted = Activity.objects.get(kind=ActivityKind.MESSAGE_CONVERTED)
    assert converted.data["message_id"] == second.pk and converted.actor == "payment"


def test_no_conversion_outside_the_window_or_without_a_touch(clock, make_variant, place_one,
                                                             settings):  # fmt: skip
    variant = make_variant("email")
    account = place_one()
    message = _sent(clock, variant, account, "a")
    assert services.conversion_attribute(account=account, at=clock.now, kind="plan") is None
    services.message_open(message_id=message.pk)
    late = clock.now + timedelta(days=7, minutes=1)
    assert services.conversion_attribute(account=account, at=late, kind="plan") is None
    settings.MESSAGING_ATTRIBUTION_WINDOW_DAYS = 10
    assert services.conversion_attribute(account=account, at=late, kind="plan") == message
    other = place_one()
    assert services.conversion_attribute(account=other, at=late, kind="plan") is None


def test_funnel_numbers_per_variant(clock, make_variant, place_one):
    a = make_variant("email", name="A")
    b = make_variant("email", name="B")
    messages = [_sent(clock, a, place_one(), "s") for _ in range(4)]
    _sent(clock, b, place_one(), "s")
    blocked = services.message_send(
        account=place_one(debtor={"flags": ["opted_out_email"]}), variant=a, planned_at=clock.now
    )
    assert blocked.status == "blocked"  # never sent: not in the funnel
    for m in messages[:3]:
        services.event_record(message=m, kind="delivered", event_key=f"d{m.pk}", source="test")
    services.message_open(message_id=messages[0].pk)
    services.message_open(message_id=messages[0].pk)  # the same open twice counts once
    services.message_click(message_id=messages[1].pk, index=0)  # a click implies an open
    services.conversion_attribute(account=messages[1].account, at=clock.now, kind="payment")
    funnel = selectors.variants_funnel(variant_ids=[a.pk, b.pk])
    fa, fb = funnel[a.pk], funnel[b.pk]
    assert (fa.sent, fa.delivered, fa.opened, fa.clicked, fa.converted) == (4, 3, 2, 1, 1)
    assert (fa.open_rate, fa.click_rate, fa.conversion_rate) == (2 / 3, 1 / 3, 1 / 4)
    assert (fb.sent, fb.delivered, fb.open_rate) == (1, 0, None)


def test_the_variant_listing_shows_the_funnel_with_one_query_for_all_rows(
    clock, make_variant, place_one, client, django_assert_max_num_queries
):
    variants = [make_variant("email", name=f"Variant {i}") for i in range(5)]
    for m in [_sent(clock, variants[0], place_one(), "s") for _ in range(2)]:
        services.event_record(message=m, kind="delivered", event_key=f"d{m.pk}", source="test")
    services.message_open(message_id=m.pk)
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    url = reverse("wagtailsnippets_messaging_messagevariant:list")
    client.get(url)  # warm caches (permissions, site, ...)
    with django_assert_max_num_queries(40) as few:
        html = client.get(url).content.decode()
    make_variant("email", name="Variant 5")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)  # one more row costs no more queries
    for header in ("Sent", "Delivered", "Open rate", "Click rate", "Conversion rate"):
        assert header in html
    assert "50.0%" in html  # variant 0: 1 of 2 delivered opened
