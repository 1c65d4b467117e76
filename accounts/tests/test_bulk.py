import pytest
from django.utils import timezone

from accounts.bulk import bulk_insert, bulk_update_by_key
from accounts.models import Activity, Debtor
from accounts.tests.factories import place, row

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("count", [3, 60])  # below and above the COPY threshold
def test_bulk_insert_with_set_pks_gives_each_object_its_row(creditor, count):
    (account,) = place(creditor, row(1))
    entries = [
        Activity(
            creditor_id=creditor.pk,
            debtor_id=account.debtor_id,
            account_id=account.pk,
            kind="portal",
            summary=f"entry {i}",
            data={"i": i},
            actor="test",
            occurred_at=timezone.now(),
        )
        for i in range(count)
    ]
    bulk_insert(Activity, entries, set_pks=True)
    assert all(e.pk for e in entries)
    stored = dict(Activity.objects.filter(kind="portal").values_list("pk", "data"))
    assert {e.pk: {"i": i} for i, e in enumerate(entries)} == stored


def test_bulk_update_by_key_sets_only_the_named_fields(creditor):
    place(creditor, row(1), row(2))
    debtors = list(Debtor.objects.filter(creditor=creditor).order_by("external_ref"))
    for d in debtors:
        d.city, d.last_name = "Salem", "Changed"
    bulk_update_by_key(Debtor, debtors, key=["creditor", "external_ref"], fields=["city"])
    assert set(Debtor.objects.values_list("city", "last_name")) == {("Salem", "Lovelace")}
