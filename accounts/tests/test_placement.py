from decimal import Decimal

import pytest

from accounts import services
from accounts.models import Account, Activity, ActivityKind, Debtor
from accounts.tests.factories import place, row

pytestmark = pytest.mark.django_db


def upsert(creditor, rows):
    return services.placement_upsert(creditor=creditor, rows=rows, actor="test")


def test_placing_the_same_rows_twice_creates_nothing_new(creditor):
    rows = [row(i) for i in range(5)]
    first = upsert(creditor, rows)
    second = upsert(creditor, rows)
    assert len(first.created) == 5
    assert second.created == [] and second.updated == []
    assert len(second.unchanged) == 5
    assert Account.objects.filter(creditor=creditor).count() == 5
    assert Debtor.objects.filter(creditor=creditor).count() == 5
    assert Activity.objects.filter(kind=ActivityKind.PLACED).count() == 5


def test_placement_stores_normalised_values(creditor):
    (account,) = place(
        creditor,
        row(1, currency="jpy", original_amount="1000", debtor={"phone": "(617) 555-0123",
                                                                "email": "ADA@Example.COM"}),
    )  # fmt: skip
    assert account.currency == "JPY"
    assert account.current_balance == Decimal("1000")
    debtor = account.debtor
    assert str(debtor.phone) == "+16175550123"
    assert debtor.email == "ada@example.com"
    assert debtor.timezone == "America/New_York"  # derived from US-MA
    assert debtor.language == "en"


def test_timezone_and_language_follow_the_region_when_not_given(creditor):
    (account,) = place(creditor, row(1, debtor={"region": "ca-qc", "phone": "+15145550123"}))
    assert account.debtor.region == "CA-QC"
    assert account.debtor.timezone == "America/Toronto"
    assert account.debtor.language == "fr"


def test_replacement_updates_details_but_keeps_balance_and_status(creditor):
    (account,) = place(creditor, row(1))
    services.payment_record(
        account=account, amount=Decimal("20.50"), idempotency_key="k1", method="card", actor="t"
    )
    result = upsert(creditor, [row(1, due_date="2026-12-01", debtor={"email": "new@example.com"})])
    assert result.updated == ["ACC-1"]
    account.refresh_from_db()
    assert account.current_balance == Decimal("100.00")
    assert str(account.due_date) == "2026-12-01"
    assert account.debtor.email == "new@example.com"
    entry = Activity.objects.get(kind=ActivityKind.UPDATED)
    assert entry.data == {"account_fields": ["due_date"], "debtor_fields": ["email"]}


def test_replacement_may_not_change_currency_amount_or_debtor(creditor):
    place(creditor, row(1))
    result = upsert(creditor, [row(1, currency="EUR"), row(2)])
    assert [r["external_ref"] for r in result.rejected] == ["ACC-1"]
    assert "currency" in result.rejected[0]["errors"]
    assert result.created == ["ACC-2"]

    amount = upsert(creditor, [row(1, original_amount="999.00")])
    assert "original_amount" in amount.rejected[0]["errors"]
    other_debtor = upsert(creditor, [row(1, debtor={"external_ref": "D-9"})])
    assert "debtor" in other_debtor.rejected[0]["errors"]
    assert Account.objects.get(external_ref="ACC-1").currency == "USD"


def test_valid_rows_are_saved_when_others_are_rejected(creditor):
    rows = [row(1), row(2, currency="ZZZ"), row(3, debtor={"phone": "12"}), row(4)]
    result = upsert(creditor, rows)
    assert result.created == ["ACC-1", "ACC-4"]
    assert [(r["index"], r["external_ref"]) for r in result.rejected] == [
        (1, "ACC-2"),
        (2, "ACC-3"),
    ]
    assert result.rejected[0]["errors"] == {"currency": ["Unknown ISO 4217 currency code 'ZZZ'."]}
    assert "phone" in result.rejected[1]["errors"]["debtor"]


def test_a_reference_repeated_in_one_placement_is_rejected(creditor):
    result = upsert(creditor, [row(1), row(1, description="again")])
    assert result.created == ["ACC-1"]
    assert result.rejected[0]["index"] == 1
    assert "more than once" in result.rejected[0]["errors"]["external_ref"][0]


def test_two_accounts_of_one_debtor_share_the_debtor(creditor):
    place(creditor, row(1), row(2, debtor={"external_ref": "D-1"}))
    assert Debtor.objects.filter(creditor=creditor).count() == 1
    assert Debtor.objects.get().accounts.count() == 2


def test_same_references_at_two_creditors_are_separate(creditor, other_creditor):
    place(creditor, row(1))
    place(other_creditor, row(1))
    assert Account.objects.filter(external_ref="ACC-1").count() == 2
    assert Debtor.objects.filter(external_ref="D-1").count() == 2


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ({"currency": "ABC"}, ("currency",)),
        ({"original_amount": "-5"}, ("original_amount",)),
        ({"original_amount": "0"}, ("original_amount",)),
        ({"original_amount": 12.5}, ("original_amount",)),
        ({"original_amount": "12.345"}, ("original_amount",)),
        ({"current_balance": "0"}, ("current_balance",)),
        ({"due_date": "31/12/2026"}, ("due_date",)),
        ({"external_ref": ""}, ("external_ref",)),
        ({"external_ref": "x" * 101}, ("external_ref",)),
        ({"colour": "red"}, ("colour",)),
        ({"debtor": {"phone": "+1 555"}}, ("debtor", "phone")),
        ({"debtor": {"region": "US-ZZ"}}, ("debtor", "region")),
        ({"debtor": {"region": ""}}, ("debtor", "region")),
        ({"debtor": {"timezone": "Mars/Olympus"}}, ("debtor", "timezone")),
        ({"debtor": {"language": "xx"}}, ("debtor", "language")),
        ({"debtor": {"email": "not-an-email"}}, ("debtor", "email")),
        ({"debtor": {"date_of_birth": "2999-01-01"}}, ("debtor", "date_of_birth")),
        ({"debtor": {"flags": ["opted_out_fax"]}}, ("debtor", "flags")),
        ({"debtor": {"last_name": ""}}, ("debtor", "last_name")),
        ({"debtor": "Ada"}, ("debtor", "non_field_errors")),
    ],
)
def test_bad_row_is_rejected_with_a_field_error(creditor, override, path):
    result = upsert(creditor, [row(1, **override)])
    assert result.created == []
    errors = result.rejected[0]["errors"]
    for key in path:
        errors = errors[key]
    assert errors and isinstance(errors[0], str)


def test_missing_fields_are_each_reported(creditor):
    result = upsert(creditor, [{"debtor": {}}])
    errors = result.rejected[0]["errors"]
    assert set(errors) == {"external_ref", "original_amount", "debtor"}
    assert {"external_ref", "last_name", "region"} <= set(errors["debtor"])


def test_over_the_row_limit_is_refused_before_anything_is_saved(creditor):
    with pytest.raises(services.PlacementTooLarge, match="at most 3"):
        services.placement_upsert(
            creditor=creditor, rows=[row(i) for i in range(4)], actor="t", max_rows=3
        )
    assert not Account.objects.exists()


def test_replacement_updates_many_debtors_and_accounts_at_once(creditor):
    place(creditor, *[row(i) for i in range(30)])
    changed = [
        row(i, description=f"Changed {i}", debtor={"flags": ["cell_phone"], "city": "Salem"})
        for i in range(0, 30, 2)
    ]
    result = upsert(creditor, changed + [row(i) for i in range(1, 30, 2)])
    assert len(result.updated) == 15 and len(result.unchanged) == 15
    for account in Account.objects.filter(creditor=creditor).select_related("debtor"):
        n = int(account.external_ref.split("-")[1])
        if n % 2 == 0:
            assert account.description == f"Changed {n}"
            assert account.debtor.flags == ["cell_phone"] and account.debtor.city == "Salem"
        else:
            assert account.description == "Energy bill"
            assert account.debtor.flags == [] and account.debtor.city == "Boston"


def test_a_valid_foreign_phone_number_is_accepted(creditor):
    (account,) = place(creditor, row(1, debtor={"phone": "+44 7911 123456"}))
    assert account.debtor.phone == "+447911123456"  # region US-MA, a UK mobile


def test_a_national_number_is_read_in_the_debtors_country(creditor):
    (account,) = place(
        creditor, row(1, debtor={"region": "FR", "phone": "06 12 34 56 78"}, currency="EUR")
    )
    assert account.debtor.phone == "+33612345678"


def test_replacement_never_removes_the_debtors_own_opt_outs(creditor):
    (account,) = place(creditor, row(1, debtor={"flags": ["cell_phone"]}))
    debtor = account.debtor
    debtor.flags = ["cell_phone", "opted_out_sms", "cease_communication"]
    debtor.save(update_fields=["flags"])
    result = upsert(creditor, [row(1, debtor={"flags": ["deceased"]})])
    assert result.updated == ["ACC-1"]
    debtor.refresh_from_db()
    assert debtor.flags == ["cease_communication", "deceased", "opted_out_sms"]
    again = upsert(creditor, [row(1, debtor={"flags": ["deceased"]})])
    assert again.unchanged == ["ACC-1"]
