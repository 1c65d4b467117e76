"""The webhooks' admin pages: scoped to the creditor of creditor staff, the attempt log
read-only, and the "Send again" action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.tests.factories import place, row, staff_client
from accounts.webhooks import delivery
from accounts.webhooks import services as webhooks
from accounts.webhooks.models import WebhookDelivery
from accounts.webhooks.tests.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_endpoints(creditor, other_creditor, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    receiver = Receiver(statuses=[500])
    url = receiver.start()
    ours = webhooks.endpoint_create(creditor=creditor, url=url, description="ours")
    theirs = webhooks.endpoint_create(creditor=other_creditor, url=url, description="theirs")
    place(creditor, row(1))
    place(other_creditor, row(2, currency="EUR"))
    delivery.deliveries_send_due()
    yield ours, theirs, receiver
    receiver.stop()


def test_creditor_staff_see_their_own_endpoints_deliveries_and_events_only(creditor, two_endpoints):
    ours, theirs, _receiver = two_endpoints
    client = staff_client(creditor)
    for model in ("webhookendpoint", "webhookdelivery", "webhookevent"):
        page = client.get(reverse(f"admin:webhooks_{model}_changelist"))
        assert page.status_code == 200
        assert "Globex" not in page.content.decode()
    change = "admin:webhooks_webhookendpoint_change"
    assert client.get(reverse(change, args=[ours.pk])).status_code == 200
    assert client.get(reverse(change, args=[theirs.pk])).status_code == 404
    theirs_delivery = WebhookDelivery.objects.get(endpoint=theirs)
    url = reverse("admin:webhooks_webhookdelivery_change", args=[theirs_delivery.pk])
    assert client.get(url).status_code == 404
    ours_delivery = WebhookDelivery.objects.get(endpoint=ours)
    page = client.get(reverse("admin:webhooks_webhookdelivery_change", args=[ours_delivery.pk]))
    assert page.status_code == 200 and "broken" in page.content.decode()  # the answer's body


def test_the_send_again_action(creditor, two_endpoints):
    ours, _theirs, receiver = two_endpoints
    client = staff_client(creditor, agency=True)
    one = WebhookDelivery.objects.get(endpoint=ours)
    before = len(receiver.received)
    answer = client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "resend", "_selected_action": [one.pk]},
        follow=True,
    )
    assert "will be sent again now" in answer.content.decode()
    delivery.deliveries_send_due()
    assert len(receiver.received) == before + 1
