"""The debtor's local weekday and hour of every message sent before the hand-off stored them,
then the index the outbox's local-time filters read.

In batches of message ids, each its own transaction (the migration is not atomic): a large
outbox is not locked for the whole backfill, and a backfill cut short resumes where it
stopped (only messages still without a local time are written). The zone is the one the
hand-off uses (`messaging.selectors.send_zone`): the debtor's own, else their region's from
the rules (the nearest region code with a pack), else UTC.
"""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import migrations, models
from django.db.models import Max, Min
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay

from compliance import packs

BATCH = 50_000


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _zones_of_debtors(apps) -> dict[str, tuple[set[str], set[tuple[str, str]]]]:
    """Zone name -> (the debtors' own zone names resolving to it, the (time zone, region)
    pairs of debtors without a zone of their own falling back to it)."""
    Region = apps.get_model("compliance", "Region")
    Debtor = apps.get_model("accounts", "Debtor")
    region_zones = dict(Region.objects.values_list("code", "time_zone"))
    if packs.DEFAULT_CODE not in region_zones:
        region_zones[packs.DEFAULT_CODE] = packs.packs_load()[packs.DEFAULT_CODE].time_zone
    out: dict[str, tuple[set[str], set[tuple[str, str]]]] = {}
    for tz, region in Debtor.objects.order_by().values_list("timezone", "region").distinct():
        if _zone(tz or "") is not None:
            out.setdefault(tz, (set(), set()))[0].add(tz)
            continue
        code = packs.region_resolve(region or packs.DEFAULT_CODE, region_zones)
        name = region_zones[code] if _zone(region_zones[code]) is not None else "UTC"
        out.setdefault(name, (set(), set()))[1].add((tz or "", region or ""))
    return out


def backfill(apps, schema_editor):
    Message = apps.get_model("messaging", "Message")
    todo = Message.objects.filter(sent_at__isnull=False, sent_local_hour__isnull=True)
    bounds = todo.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return
    zones = _zones_of_debtors(apps)
    for start in range(bounds["low"], bounds["high"] + 1, BATCH):
        batch = todo.filter(pk__gte=start, pk__lt=start + BATCH)
        for name, (own, fallback) in zones.items():
            zone = ZoneInfo(name)
            debtors = models.Q(debtor__timezone__in=sorted(own))
            for tz, region in sorted(fallback):
                debtors |= models.Q(debtor__timezone=tz, debtor__region=region)
            batch.filter(debtors).update(
                sent_local_weekday=ExtractIsoWeekDay("sent_at", tzinfo=zone) - 1,
                sent_local_hour=ExtractHour("sent_at", tzinfo=zone),
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0009_debtor_region_index"),
        ("compliance", "0002_load_shipped_packs"),
        ("messaging", "0010_message_sent_local"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, atomic=False),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                fields=["sent_local_hour", "sent_local_weekday", "sent_at"],
                name="message_sent_local",
            ),
        ),
    ]
