import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Account, Activity, ActivityKind
from accounts.placement import CSV_COLUMNS
from accounts.tests.factories import UserFactory, place, row

pytestmark = pytest.mark.django_db


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


def test_recall_action_goes_through_the_state_machine(admin_client, creditor):
    (account,) = place(creditor, row(1))
    response = admin_client.post(
        "/django-admin/accounts/account/",
        {"action": "mark_recalled", "_selected_action": [account.pk]},
        follow=True,
    )
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.status == "recalled"
    again = admin_client.post(
        "/django-admin/accounts/account/",
        {"action": "mark_active", "_selected_action": [account.pk]},
        follow=True,
    )
    assert b"cannot become active" in again.content
    account.refresh_from_db()
    assert account.status == "recalled"
