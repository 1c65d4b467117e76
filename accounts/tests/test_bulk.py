from datetime import UTC, datetime, timedelta

import pytest

from accounts.bulk import bulk_insert, bulk_update_by_key, bulk_update_by_pk
from accounts.models import Activity, Debtor
from accounts.tests.factories import place, row

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


def _entries(creditor, account, count: int) -> list[Activity]:
    """`count` new timeline rows of `account`, each with its own time, text and document."""
    ids = {"creditor_id": creditor.pk, "debtor_id": account.debtor_id, "account_id": account.pk}
    return [
        Activity(
            **ids,
            kind="portal",
            summary=f"entry {i}",
            data={"i": i, "s": "it's"},
            actor="test",
            occurred_at=START + timedelta(minutes=i),
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("count", [3, 60])  # below and above the COPY threshold
def test_bulk_insert_with_set_pks_gives_each_object_its_row(creditor, count):
    (account,) = place(creditor, row(1))
    entries = _entries(creditor, account, count)
    bulk_insert(Activity, entries, set_pks=True)
    assert all(e.pk for e in entries)
    stored = dict(Activity.objects.filter(kind="portal").values_list("pk", "data"))
    assert {e.pk: {"i": i, "s": "it's"} for i, e in enumerate(entries)} == stored


def test_bulk_update_by_key_sets_only_the_named_fields(creditor):
    place(creditor, row(1), row(2))
    debtors = list(Debtor.objects.filter(creditor=creditor).order_by("external_ref"))
    for d in debtors:
        d.city, d.last_name = "Salem", "Changed"
    bulk_update_by_key(Debtor, debtors, key=["creditor", "external_ref"], fields=["city"])
    assert set(Debtor.objects.values_list("city", "last_name")) == {("Salem", "Lovelace")}


@pytest.mark.parametrize("count", [1, 3, 1200])  # one row; a few; more than one statement
@pytest.mark.parametrize("update", ["bulk_update_by_pk", "django"])
def test_bulk_update_by_pk_sets_each_row_its_own_values_and_nothing_else(creditor, count, update):
    """Each object's values of the named fields, typed as the fields store them (a time, a
    JSON document), and no other field or row: what Django's own `bulk_update` stores."""
    (account,) = place(creditor, row(1))
    entries = _entries(creditor, account, count + 1)
    bulk_insert(Activity, entries, set_pks=True)
    changed, untouched = entries[:count], entries[count]
    for i, entry in enumerate(changed):
        entry.occurred_at = START - timedelta(days=i)
        entry.data = {"i": -i, "note": "changed"}
        entry.summary = "not saved"
    if update == "django":
        Activity.objects.bulk_update(changed, ["occurred_at", "data"])
    else:
        bulk_update_by_pk(Activity, changed, ["occurred_at", "data"])
    stored = {
        pk: (at, data, summary)
        for pk, at, data, summary in Activity.objects.filter(kind="portal").values_list(
            "pk", "occurred_at", "data", "summary"
        )
    }
    expected = {
        e.pk: (START - timedelta(days=i), {"i": -i, "note": "changed"}, f"entry {i}")
        for i, e in enumerate(changed)
    }
    expected[untouched.pk] = (START + timedelta(minutes=count), {"i": count, "s": "it's"},
                              f"entry {count}")  # fmt: skip
    assert stored == expected


def test_bulk_update_by_pk_with_nothing_to_update_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        bulk_update_by_pk(Activity, [], ["summary"])


@pytest.mark.parametrize("set_pks", [False, True])
def test_bulk_insert_stores_what_bulk_create_stores(creditor, set_pks):
    """The rows `bulk_insert` writes (COPY on PostgreSQL) are the rows Django's `bulk_create`
    writes for the same objects, field by field."""
    (account,) = place(creditor, row(1))
    bulk_insert(Activity, _entries(creditor, account, 70), set_pks=set_pks)
    Activity.objects.bulk_create(_entries(creditor, account, 70))
    fields = [f.attname for f in Activity._meta.concrete_fields if not f.primary_key]
    rows = list(Activity.objects.filter(kind="portal").order_by("pk").values_list(*fields))
    assert rows[:70] == rows[70:] and len(rows) == 140
