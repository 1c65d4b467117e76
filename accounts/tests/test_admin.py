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


def test_operator_edit_of_a_debtor_is_on_the_timeline(admin_client, creditor):
    (account,) = place(creditor, row(1))
    debtor = account.debtor
    url = f"/django-admin/accounts/debtor/{debtor.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "flags"}
    data.update({
        "creditor": creditor.pk, "flags": ["opted_out_sms"], "phone": "+16175550123",
        "date_of_birth": "1980-02-03",
        "accounts-TOTAL_FORMS": 1, "accounts-INITIAL_FORMS": 1, "accounts-MIN_NUM_FORMS": 0,
        "accounts-MAX_NUM_FORMS": 1000, "accounts-0-id": account.pk,
        "accounts-0-debtor": debtor.pk,
        "activities-TOTAL_FORMS": 0, "activities-INITIAL_FORMS": 0,
        "activities-MIN_NUM_FORMS": 0, "activities-MAX_NUM_FORMS": 1000,
    })  # fmt: skip
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
