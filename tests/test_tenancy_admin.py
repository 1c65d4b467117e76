"""Tenants never see each other's data in the back office: every admin page, for a staff user
bound to one creditor, shows that creditor's rows only and answers 404 for another's.

Two creditors go through the real pipeline (placement, payments, a plan, planning with
decisions and compliance checks, dispatch, events, portal requests, typologies, API keys),
then a staff user of the first, holding every view permission, walks every registered Django
admin and the Wagtail outbox.
"""

from __future__ import annotations

import pytest
import time_machine
from django.contrib import admin
from django.test import override_settings
from django.urls import reverse

from accounts.tenancy import AgencyOnlyAdmin, CreditorScopedAdmin
from accounts.tests.factories import CreditorFactory, staff_client
from tests.tenancy_setup import NOW, make_variants, seed

pytestmark = pytest.mark.django_db

# Models whose admin holds no creditor's data (the platform's configuration, its own staff
# and tasks): agency pages, reachable only with their model permissions.
GLOBAL = {
    "auth.Group": "staff roles",
    "axes.AccessAttempt": "staff login attempts (login throttling)",
    "axes.AccessFailureLog": "staff login attempts (login throttling)",
    "axes.AccessLog": "staff login attempts (login throttling)",
    "auth.User": "staff and API users (user admin is for agency staff)",
    "otp_static.StaticDevice": "staff two-factor devices",
    "otp_totp.TOTPDevice": "staff two-factor devices",
    "compliance.Region": "rule packs: the same law for every creditor",
    "compliance.RuleChange": "the audit of rule edits",
    "django_q.Failure": "task queue internals",
    "django_q.OrmQ": "task queue internals",
    "django_q.Schedule": "task queue internals",
    "django_q.Success": "task queue internals",
    "recommender.ModelVersion": "one model for the whole platform",
    "taggit.Tag": "Wagtail tags",
    "wagtaildocs.Document": "Wagtail documents",
    "wagtailimages.Image": "Wagtail images",
}


def test_every_admin_of_creditor_data_is_scoped_by_creditor():
    unscoped = sorted(
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, CreditorScopedAdmin) and model._meta.label not in GLOBAL
    )
    assert unscoped == [], "scope these admins with accounts.tenancy.CreditorScopedAdmin"


@pytest.fixture
def two_creditors(settings):
    settings.MESSAGING_EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(NOW, tick=False), override_settings(RECOMMENDER_RANDOM_SEED=1):
        make_variants()
        mine = CreditorFactory(name="Mine", slug="mine", default_currency="USD")
        theirs = CreditorFactory(name="Theirs", slug="theirs", default_currency="USD")
        seed(mine, "M")
        seed(theirs, "T")
    return mine, theirs


def _scoped_admins(*, agency_only: bool = False):
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, CreditorScopedAdmin)
        and isinstance(model_admin, AgencyOnlyAdmin) == agency_only
    ]


def _of(model, path: str, creditor):
    return model._default_manager.filter(**{path: creditor.pk})


def test_creditor_staff_see_only_their_creditor_in_every_admin(two_creditors):
    mine, theirs = two_creditors
    client = staff_client(mine)
    for model, model_admin in _scoped_admins():
        path, label = model_admin.creditor_path, model._meta.label
        assert _of(model, path, theirs).exists(), f"the seed made no {label} for the other"
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        page = client.get(changelist)
        assert page.status_code == 200, label
        key = model._meta.pk.attname  # a token's pk property is its user's id, not its key
        shown = {getattr(obj, key) for obj in page.context["cl"].result_list}
        assert shown == set(_of(model, path, mine).values_list(key, flat=True)), label
        other = _of(model, path, theirs).first()
        change = reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[other.pk]
        )
        assert client.get(change).status_code == 404, label
        assert "Theirs" not in page.content.decode(), f"{label}: the other creditor is named"


def test_creditor_staff_choose_only_their_creditor_debtors_and_accounts(two_creditors):
    mine, _theirs = two_creditors
    client = staff_client(mine, extra=("change_account",))
    upload = client.get(reverse("admin:accounts_account_upload_csv"))
    assert [str(c) for c in upload.context["form"].fields["creditor"].queryset] == ["Mine"]


def test_agency_staff_see_every_creditor_and_unbound_staff_see_none(two_creditors):
    agency, unbound = staff_client(agency=True), staff_client()
    for model, _admin in _scoped_admins():
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        key = model._meta.pk.attname
        everything = set(model._default_manager.values_list(key, flat=True))
        seen = {getattr(o, key) for o in agency.get(changelist).context["cl"].result_list}
        assert seen == everything, model._meta.label
        assert not unbound.get(changelist).context["cl"].result_list, model._meta.label


def test_agency_only_admins_refuse_everyone_but_agency_staff(two_creditors):
    agency, mine, unbound = (
        staff_client(agency=True),
        staff_client(two_creditors[0]),
        staff_client(),
    )
    assert _scoped_admins(agency_only=True), "no agency-only admin to check"
    for model, _admin in _scoped_admins(agency_only=True):
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        key = model._meta.pk.attname
        seen = {getattr(o, key) for o in agency.get(changelist).context["cl"].result_list}
        assert seen == set(model._default_manager.values_list(key, flat=True)), model
        assert mine.get(changelist).status_code == 403, model._meta.label
        assert unbound.get(changelist).status_code == 403, model._meta.label


def test_the_outbox_shows_creditor_staff_their_messages_only(two_creditors):
    from messaging.models import Message

    mine, theirs = two_creditors
    client = staff_client(mine)
    page = client.get(reverse("messaging_outbox:index"))
    assert page.status_code == 200
    listed = {m.pk for m in page.context["object_list"]}
    assert listed == set(Message.objects.filter(creditor=mine).values_list("pk", flat=True))
    theirs_message = Message.objects.filter(creditor=theirs).first()
    inspect = reverse("messaging_outbox:inspect", args=[theirs_message.pk])
    assert client.get(inspect).status_code == 404
    choices = page.context["filters"].form.fields["creditor"].queryset
    assert [str(c) for c in choices] == ["Mine"]


def test_the_uplift_report_over_every_creditor_is_for_agency_staff(two_creditors):
    mine, _ = two_creditors
    url = reverse("admin:recommender_uplift_report")
    assert staff_client(mine).get(url).status_code == 403
    assert staff_client(agency=True).get(url).status_code == 200
