"""Disputes resolved under the old single "resolved" status get the outcome they had, and
every dispute a response deadline.

The old resolution closed the account when the dispute was upheld and moved it back to
active when the debt stood, so the account's status tells which: closed -> `upheld`,
anything else -> `debt_stands`. Disputes without a deadline get the default response
period from when they were raised (settings.PORTAL_DISPUTE_RESPONSE_DAYS, region by region).
"""

from datetime import timedelta

from django.conf import settings
from django.db import migrations


def _days(region: str) -> int:
    table = settings.PORTAL_DISPUTE_RESPONSE_DAYS
    parts = (region or "").split("-")
    for end in range(len(parts), 0, -1):
        key = "-".join(parts[:end])
        if key in table:
            return table[key]
    return table["default"]


def forwards(apps, schema_editor):
    Dispute = apps.get_model("portal", "PortalDispute")
    resolved = Dispute.objects.filter(status="resolved")
    resolved.filter(account__status="closed").update(status="upheld")
    resolved.exclude(account__status="closed").update(status="debt_stands")
    for dispute in Dispute.objects.filter(due_at__isnull=True).select_related("account__debtor"):
        dispute.due_at = dispute.created_at + timedelta(days=_days(dispute.account.debtor.region))
        dispute.save(update_fields=["due_at"])


def backwards(apps, schema_editor):
    Dispute = apps.get_model("portal", "PortalDispute")
    Dispute.objects.filter(status__in=["upheld", "debt_stands"]).update(status="resolved")
    Dispute.objects.filter(status="awaiting_evidence").update(status="open")


class Migration(migrations.Migration):
    dependencies = [("portal", "0004_dispute_queue_and_call_outcomes")]

    operations = [migrations.RunPython(forwards, backwards)]
