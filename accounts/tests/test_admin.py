from datetime import date, timedelta
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import services
from accounts.models import Account, Activity, ActivityKind, Debtor
from accounts.placement import CSV_COLUMNS
from accounts.tests.factories import CreditorFactory, UserFactory, place, row

pytestmark = pytest.mark.django_db


def shown(amount: str, currency: str) -> str:
    """An amount as the admin shows it to an English-speaking operator: what the installed
    babel writes for it in the currency's minor units (e.g. "$706.05", "¥12,000")."""
    return format_currency(Decimal(amount), currency, locale="en")


@pytest.fixture
def admin_client(client, db):
    user = UserFactory(username="ops", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_csv_upload_page_places_accounts(admin_client, creditor):
    header = ",".join(CSV_COLUMNS)
    line = ",".join(
        {"external_ref": "U1", "original_amount": "10.00", "debtor_external_ref": "DU1",
         "debtor_last_name": "Curie", "debtor_region": "FR"}.get(c, "")
        for c in CSV_COLUMNS
    )  # fmt: skip
    upload = SimpleUploadedFile("a.csv", f"{header}\n{line}\n".encode(), "text/csv")
    response = admin_client.post(
        "/django-admin/accounts/account/upload-csv/", {"creditor": creditor.pk, "file": upload}
    )
    assert response.status_code == 200
    assert b"Created: 1" in response.content
    account = Account.objects.get(external_ref="U1")
    assert account.currency == "USD"  # the creditor's default
    assert account.debtor.timezone == "Europe/Paris"


def test_csv_upload_with_bad_header_shows_a_form_error(admin_client, creditor):
    upload = SimpleUploadedFile("a.csv", b"ref,amount\n1,2\n", "text/csv")
    response = admin_client.post(
        "/django-admin/accounts/account/upload-csv/", {"creditor": creditor.pk, "file": upload}
    )
    assert response.status_code == 200
    assert b"Unknown column(s): ref, amount" in response.content
    assert not Account.objects.exists()


def _change_form_data(page) -> dict:
    """The POST data of an admin change page as rendered, inlines' management forms included."""
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, list | dict)
    }
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for name, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{name}"] = value
        for sub in formset.forms:
            for name, value in sub.initial.items():
                if value is not None and not isinstance(value, list | dict):
                    data[f"{sub.prefix}-{name}"] = getattr(value, "pk", value)
    return data


def test_operator_edit_of_a_debtor_is_on_the_timeline(admin_client, creditor):
    (account,) = place(creditor, row(1))
    debtor = account.debtor
    url = f"/django-admin/accounts/debtor/{debtor.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    data = _change_form_data(page)
    data.update({"flags": ["opted_out_sms"], "date_of_birth": "1980-02-03"})
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    debtor.refresh_from_db()
    assert debtor.flags == ["opted_out_sms"]
    entry = Activity.objects.get(kind=ActivityKind.ADMIN_CHANGE)
    assert entry.data == {"fields": ["flags"]}


def test_an_operator_adds_a_debtor_and_the_addition_is_on_the_timeline(admin_client, creditor):
    url = "/django-admin/accounts/debtor/add/"
    page = admin_client.get(url)
    assert page.status_code == 200
    # Nothing yet to export or erase: the add page is the plain form.
    assert b"Export personal data" not in page.content
    data = _change_form_data(page)
    fields = {
        "creditor": creditor.pk, "external_ref": "D-NEW", "first_name": "Ada",
        "last_name": "Byron", "region": "GB", "timezone": "Europe/London", "language": "en",
        "phone": "020 7946 0000",
    }  # fmt: skip
    bad = admin_client.post(url, {**data, **fields, "timezone": "Mars/Olympus"})
    assert bad.status_code == 200
    assert bad.context["adminform"].form.errors["timezone"]
    assert not Debtor.objects.filter(external_ref="D-NEW").exists()
    response = admin_client.post(url, {**data, **fields})
    assert response.status_code == 302, response.context["adminform"].form.errors
    debtor = Debtor.objects.get(creditor=creditor, external_ref="D-NEW")
    assert debtor.phone == "+442079460000"
    entry = Activity.objects.get(debtor=debtor, kind=ActivityKind.ADMIN_CHANGE)
    assert entry.summary == "An operator added the debtor."
    assert entry.data["added"] is True and "external_ref" in entry.data["fields"]
    # Without a time zone, the region's usual one, as in a placement.
    fields.update(external_ref="D-FR", region="FR", timezone="", phone="")
    assert admin_client.post(url, {**data, **fields}).status_code == 302
    assert Debtor.objects.get(external_ref="D-FR").timezone == "Europe/Paris"
    # Its change page then offers the privacy actions and the recommender's panel.
    change = admin_client.get(f"/django-admin/accounts/debtor/{debtor.pk}/change/")
    assert change.status_code == 200
    assert b"Export personal data" in change.content
    assert b"Behavioural typology" in change.content


def _in(days: int) -> date:
    return timezone.now().date() + timedelta(days=days)


def test_recall_action_asks_for_a_reason_then_recalls_as_the_api_does(admin_client, creditor):
    (account,) = place(creditor, row(1))
    plan = services.plan_create(
        account=account, frequency="monthly", count=2, first_due=_in(10), actor="t"
    )
    chosen = {"action": "recall", "_selected_action": [account.pk]}
    confirm = admin_client.post("/django-admin/accounts/account/", chosen)
    assert confirm.status_code == 200 and "reason" in confirm.context["form"].fields
    account.refresh_from_db()
    assert account.status == "in_plan"  # nothing happens before the confirmation
    blank = admin_client.post("/django-admin/accounts/account/", {**chosen, "confirm": "yes"})
    assert blank.context["form"].errors["reason"]
    response = admin_client.post(
        "/django-admin/accounts/account/",
        {**chosen, "confirm": "yes", "reason": "Sold to another agency."},
        follow=True,
    )
    assert response.status_code == 200
    account.refresh_from_db()
    plan.refresh_from_db()
    assert account.status == "recalled" and plan.status == "cancelled"
    entry = Activity.objects.get(account=account, kind=ActivityKind.RECALLED)
    assert "Sold to another agency." in entry.summary
    assert entry.data["reason"] == "Sold to another agency."
    again = admin_client.post(
        "/django-admin/accounts/account/",
        {"action": "mark_active", "_selected_action": [account.pk]},
        follow=True,
    )
    assert b"cannot become active" in again.content
    account.refresh_from_db()
    assert account.status == "recalled"


# --- Money in the currency's minor units ------------------------------------------------------


def _placed(creditor):
    """A USD, a JPY and a KWD account (amounts are stored with 4 decimal places)."""
    return place(
        creditor,
        row(1, original_amount="706.05"),
        row(2, currency="JPY", original_amount="12000"),
        row(3, currency="KWD", original_amount="1.5"),
    )


def test_the_account_list_shows_amounts_in_minor_units(admin_client, creditor):
    _placed(creditor)
    html = admin_client.get("/django-admin/accounts/account/").content.decode()
    assert (
        shown("706.05", "USD") + "<" in html
        and shown("12000", "JPY") + "<" in html
        and shown("1.500", "KWD") + "<" in html
    )
    assert "706.0500" not in html and "12000.0000" not in html and "1.5000" not in html
    assert "12,000.00" not in html


def test_the_balance_column_keeps_its_header_and_sorts_by_the_balance(admin_client, creditor):
    _placed(creditor)
    page = admin_client.get("/django-admin/accounts/account/")
    (header,) = [h for h in page.context["result_headers"] if h["text"] == "current balance"]
    assert header["sortable"] and 'class="sortable column-current_balance"' in page.text
    ascending = admin_client.get("/django-admin/accounts/account/" + header["url_primary"])
    refs = [a.external_ref for a in ascending.context["cl"].result_list]
    assert refs == ["ACC-3", "ACC-1", "ACC-2"]  # 1.5, 706.05, 12000 (the stored numbers)


def test_the_account_page_shows_amounts_and_payments_in_minor_units(admin_client, creditor):
    account, jpy, _ = _placed(creditor)
    services.payment_record(
        account=account, amount="6.05", idempotency_key="k1", method="card", actor="test"
    )
    html = admin_client.get(f"/django-admin/accounts/account/{account.pk}/change/").content
    html = html.decode()
    assert shown("706.05", "USD") in html  # original amount
    assert shown("700.00", "USD") in html  # balance
    assert shown("6.05", "USD") in html  # the payment inline
    assert ".0500" not in html and "700.0000" not in html
    # The amounts stay read-only: no inputs for them.
    assert 'name="current_balance"' not in html and 'name="original_amount"' not in html
    html = admin_client.get(f"/django-admin/accounts/account/{jpy.pk}/change/").content.decode()
    assert shown("12000", "JPY") in html and "12000.0000" not in html


def test_the_debtor_page_shows_its_accounts_balances_in_minor_units(admin_client, creditor):
    account, *_ = _placed(creditor)
    url = f"/django-admin/accounts/debtor/{account.debtor_id}/change/"
    html = admin_client.get(url).content.decode()
    assert shown("706.05", "USD") in html and "706.0500" not in html


def test_payments_and_plans_show_amounts_in_minor_units(admin_client, creditor):
    account, *_ = _placed(creditor)
    payment, _ = services.payment_record(
        account=account, amount="6.05", idempotency_key="k1", method="card", actor="test"
    )
    html = admin_client.get("/django-admin/accounts/payment/").content.decode()
    assert shown("6.05", "USD") + "<" in html and "6.0500" not in html
    html = admin_client.get(f"/django-admin/accounts/payment/{payment.pk}/change/").content
    assert shown("6.05", "USD") in html.decode() and "6.0500" not in html.decode()
    plan = services.plan_create(
        account=account,
        frequency="monthly",
        count=3,
        first_due=timezone.localdate() + timedelta(days=3),
        actor="test",
    )
    html = admin_client.get("/django-admin/accounts/paymentplan/").content.decode()
    assert shown("700.00", "USD") + "<" in html and "700.0000" not in html
    html = admin_client.get(f"/django-admin/accounts/paymentplan/{plan.pk}/change/").content
    html = html.decode()
    assert shown("700.00", "USD") in html  # the plan's total
    assert (
        shown("233.33", "USD") in html
        and shown("233.34", "USD") in html
        and shown("0.00", "USD") in html
    )  # instalments
    assert ".0000" not in html


def test_the_creditors_minimum_instalment_is_an_input_in_its_currencys_minor_units(
    admin_client, creditor
):
    url = f"/django-admin/accounts/creditor/{creditor.pk}/change/"
    html = admin_client.get(url).content.decode()
    assert 'name="min_instalment" value="10.00"' in html and 'step="0.01"' in html
    yen = CreditorFactory(name="Yen", slug="yen", default_currency="JPY")
    html = admin_client.get(f"/django-admin/accounts/creditor/{yen.pk}/change/").content
    assert 'name="min_instalment" value="10"' in html.decode()


def test_a_minimum_instalment_with_more_decimals_than_the_currency_is_refused(
    admin_client, creditor
):
    url = f"/django-admin/accounts/creditor/{creditor.pk}/change/"
    data = {
        "name": creditor.name,
        "slug": creditor.slug,
        "display_name": creditor.display_name,
        "default_currency": "USD",
        "locale": "en",
        "min_instalment": "10.555",
        "max_plan_months": "12",
        "max_settlement_discount_pct": "15",
        "max_pause_days": "30",
        "users-TOTAL_FORMS": "0",
        "users-INITIAL_FORMS": "0",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "min_instalment": ["USD amounts have at most 2 decimal places."]
    }
    response = admin_client.post(url, {**data, "min_instalment": "12.50"})
    assert response.status_code == 302
    creditor.refresh_from_db()
    assert creditor.min_instalment == Decimal("12.50")
    assert creditor.max_settlement_discount_pct == Decimal("15")
    html = admin_client.get(url).content.decode()
    assert 'name="max_settlement_discount_pct" value="15"' in html


def test_a_payment_is_named_in_its_currencys_minor_units(creditor):
    account, *_ = _placed(creditor)
    payment, _ = services.payment_record(
        account=account, amount="6.05", idempotency_key="k1", method="card", actor="test"
    )
    payment.refresh_from_db()
    assert str(payment) == f"6.05 USD on {account.pk}"


# --- The CSV upload page ----------------------------------------------------------------------


def _csv(*rows: dict) -> SimpleUploadedFile:
    lines = [",".join(CSV_COLUMNS)]
    lines += [",".join(r.get(c, "") for c in CSV_COLUMNS) for r in rows]
    return SimpleUploadedFile("a.csv", ("\n".join(lines) + "\n").encode(), "text/csv")


def test_rejected_csv_rows_are_sentences_naming_line_and_column(admin_client, creditor):
    good = {"external_ref": "U1", "original_amount": "10.00", "debtor_external_ref": "DU1",
            "debtor_last_name": "Curie", "debtor_region": "FR"}  # fmt: skip
    upload = _csv(
        good,
        {**good, "external_ref": "INV-1001", "debtor_email": "not-an-email"},
        {**good, "external_ref": "", "original_amount": "1.234", "debtor_region": ""},
    )
    response = admin_client.post(
        "/django-admin/accounts/account/upload-csv/", {"creditor": creditor.pk, "file": upload}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Line 3 (INV-1001): debtor_email — Enter a valid email address." in html
    assert "Line 4 (no external_ref): external_ref — This field is required." in html
    assert (
        "Line 4 (no external_ref): original_amount — USD amounts have at most 2 decimal places."
        in html
    )
    assert "Line 4 (no external_ref): debtor_region — This field is required." in html
    assert "{&#x27;" not in html and "[&#x27;" not in html and "{'" not in html
    assert Account.objects.filter(external_ref="U1").exists()


def test_the_csv_upload_page_has_one_title_and_lists_the_columns(admin_client):
    html = admin_client.get("/django-admin/accounts/account/upload-csv/").content.decode()
    assert html.count("<h1>") == 1 and "<h1>Upload accounts (CSV)</h1>" in html
    assert ", ".join(CSV_COLUMNS) in html
    assert "docs/api.md" in html and "README" not in html


# --- Help texts -------------------------------------------------------------------------------


def test_model_help_texts_with_angle_brackets_show_literally(admin_client, creditor):
    account, *_ = _placed(creditor)
    entry = Activity.objects.filter(account=account).first()
    html = admin_client.get(f"/django-admin/accounts/activity/{entry.pk}/change/").content
    assert "api:&lt;user id&gt;, admin:&lt;user id&gt;" in html.decode()
    html = admin_client.get(f"/django-admin/accounts/debtor/{account.debtor_id}/change/").content
    assert "api:&lt;user id&gt;" in html.decode()  # the timeline inline's column header
