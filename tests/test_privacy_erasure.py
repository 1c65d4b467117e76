"""Erasure with legal holds: a debtor's personal data replaced by irreversible placeholders in
every app, in one transaction with its audit, keeping what the law requires (payments,
plans, the compliance audit, message metadata) under the same pseudonymous row; refused while
an account is open unless an agency admin forces it; a second erasure changes nothing.

The proof: after an erasure, no text in any column of any table, and no file in the outbox
or the uploads, holds the debtor's name, e-mail or phone.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts import services as accounts
from accounts.models import (
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    CreditorUser,
    Debtor,
    Installment,
    Payment,
    PaymentPlan,
)
from accounts.tests.factories import CreditorFactory, UserFactory, place
from collections_site.privacy import services
from collections_site.privacy.models import PrivacyAction
from compliance.models import ComplianceDecision, ContactAttempt
from messaging.models import Message
from recommender.models import DebtorTypology, Decision
from tests import privacy_life
from tests.privacy_life import EMAIL, FIRST, LAST, PHONE, SECRETS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated")]


def _close_all(debtor: Debtor) -> None:
    for account in Account.objects.filter(debtor=debtor):
        if account.is_open:
            accounts.account_transition(account=account, status=AccountStatus.CLOSED, actor="test")


def _columns_holding(secret: str) -> list[str]:
    """`table.column` of every column, of every table, whose text holds `secret` (any case)."""
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            for column in connection.introspection.get_table_description(cursor, table):
                cursor.execute(
                    f"SELECT COUNT(*) FROM {quote(table)} "  # noqa: S608 (quoted names only)
                    f"WHERE LOWER(CAST({quote(column.name)} AS TEXT)) LIKE %s",
                    [f"%{secret.lower()}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column.name}")
    return found


def _files_holding(secret: str) -> list[str]:
    needle = secret.lower().encode()
    roots = [Path(settings.MESSAGING_OUTBOX_DIR), Path(settings.MEDIA_ROOT)]
    return [
        str(path)
        for root in roots
        if root.exists()
        for path in root.rglob("*")
        if path.is_file() and needle in path.read_bytes().lower()
    ]


def _admin_history(debtor: Debtor) -> None:
    """An operator's edit of the debtor, in the Django admin's history as the admin writes it."""
    request = RequestFactory().get("/")
    request.user = UserFactory(is_staff=True)
    admin.site.get_model_admin(Debtor).log_change(
        request, debtor, [{"changed": {"fields": ["phone"]}}]
    )


def test_after_erasure_no_column_and_no_file_holds_the_name_email_or_phone(creditor, life):
    debtor = life.debtor
    _admin_history(debtor)
    services.debtor_export(debtor=debtor, actor="test")
    for secret in SECRETS:
        assert _columns_holding(secret), f"the life left no {secret!r} to erase"
    assert _files_holding(EMAIL) and _files_holding(PHONE) and _files_holding(LAST)
    kept = {
        "payments": list(Payment.objects.filter(account__debtor=debtor).values_list("amount")),
        "plans": PaymentPlan.objects.filter(account__debtor=debtor).count(),
        "instalments": Installment.objects.filter(plan__account__debtor=debtor).count(),
        "decisions": ComplianceDecision.objects.filter(debtor=debtor).count(),
        "attempts": list(ContactAttempt.objects.filter(debtor=debtor).values_list("at", "channel")),
        "messages": list(
            Message.objects.filter(debtor=debtor)
            .order_by("id")
            .values_list("id", "channel", "sent_at", "disclosures")
        ),
    }
    _close_all(debtor)

    out = io.StringIO()
    call_command(
        "debtor_erase", "WQ", creditor=creditor.slug, reason="Erasure request by letter",
        stdout=out,
    )  # fmt: skip

    for secret in SECRETS:
        assert _columns_holding(secret) == [], secret
        assert _files_holding(secret) == [], secret
    assert "Erased debtor 'WQ'" in out.getvalue()
    # What the law keeps, still linked to the same (now pseudonymous) debtor row.
    assert kept == {
        "payments": list(Payment.objects.filter(account__debtor=debtor).values_list("amount")),
        "plans": PaymentPlan.objects.filter(account__debtor=debtor).count(),
        "instalments": Installment.objects.filter(plan__account__debtor=debtor).count(),
        "decisions": ComplianceDecision.objects.filter(debtor=debtor).count(),
        "attempts": list(ContactAttempt.objects.filter(debtor=debtor).values_list("at", "channel")),
        "messages": list(
            Message.objects.filter(debtor=debtor)
            .order_by("id")
            .values_list("id", "channel", "sent_at", "disclosures")
        ),
    }
    debtor.refresh_from_db()
    assert debtor.erased_at is not None and debtor.external_ref == "WQ"
    assert debtor.region == "US-MA" and debtor.date_of_birth is None
    assert not DebtorTypology.objects.filter(debtor=debtor).exists()
    assert not Decision.objects.filter(debtor=debtor).exists()
    action = PrivacyAction.objects.get(debtor=debtor, kind="erasure")
    assert (action.reason, action.forced) == ("Erasure request by letter", False)
    assert action.actor.startswith("command:erase:")
    entry = Activity.objects.get(debtor=debtor, kind=ActivityKind.DATA_ERASED)
    assert entry.data["privacy_action_id"] == action.pk


def test_erasure_is_refused_while_an_account_is_open(creditor, life):
    with pytest.raises(services.ErasureRefused, match="3 of this debtor's accounts are open"):
        services.debtor_erase(debtor=life.debtor, actor="test", reason="asked")
    with pytest.raises(CommandError, match="are open"):
        call_command("debtor_erase", "WQ", creditor=creditor.slug, reason="asked")
    life.debtor.refresh_from_db()
    assert (life.debtor.first_name, life.debtor.erased_at) == (FIRST, None)
    assert not PrivacyAction.objects.exists()


def test_only_who_may_force_can_erase_a_debtor_with_open_accounts(creditor, life):
    with pytest.raises(services.ErasureRefused, match="Only an agency admin"):
        services.debtor_erase(debtor=life.debtor, actor="test", reason="deceased", force=True)
    assert Debtor.objects.get(pk=life.debtor.pk).erased_at is None

    result = services.debtor_erase(
        debtor=life.debtor, actor="test", reason="deceased", force=True, allow_force=True
    )
    assert result.forced
    assert set(Account.objects.filter(debtor=life.debtor).values_list("status", flat=True)) == {
        AccountStatus.CLOSED
    }
    assert not PaymentPlan.objects.filter(account__debtor=life.debtor, status="active").exists()
    action = PrivacyAction.objects.get(pk=result.action_id)
    assert (action.forced, action.reason, len(action.details["accounts_closed"])) == (
        True,
        "deceased",
        3,
    )
    assert (
        Activity.objects.filter(
            debtor=life.debtor, kind=ActivityKind.STATUS_CHANGED, data__to="closed"
        ).count()
        == 3
    )


def test_erasing_twice_changes_nothing_and_says_so(creditor, life):
    _close_all(life.debtor)
    call_command("debtor_erase", "WQ", creditor=creditor.slug, reason="asked")
    timeline = Activity.objects.filter(debtor=life.debtor).count()
    out = io.StringIO()
    call_command("debtor_erase", "WQ", creditor=creditor.slug, reason="asked", stdout=out)
    assert "already erased" in out.getvalue()
    assert PrivacyAction.objects.filter(kind="erasure").count() == 1
    assert Activity.objects.filter(debtor=life.debtor).count() == timeline


def test_an_erasure_is_one_transaction(creditor, life, monkeypatch):
    from recommender import privacy as recommender_privacy

    _close_all(life.debtor)

    def fails(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(recommender_privacy, "debtor_erase", fails)
    with pytest.raises(RuntimeError):
        services.debtor_erase(debtor=life.debtor, actor="test", reason="asked")
    # Messaging's part ran before the failure and was rolled back with it.
    assert not Message.objects.filter(debtor=life.debtor, recipient="[removed]").exists()
    assert Message.objects.filter(debtor=life.debtor, body__contains=FIRST).exists()
    assert Debtor.objects.get(pk=life.debtor.pk).erased_at is None
    assert not PrivacyAction.objects.exists()


def test_a_placement_never_refills_an_erased_debtor(creditor, life):
    _close_all(life.debtor)
    services.debtor_erase(debtor=life.debtor, actor="test", reason="asked")
    result = accounts.placement_upsert(
        creditor=creditor, rows=[privacy_life.debtor_row(9)], actor="test"
    )
    assert result.rejected[0]["errors"]["debtor"]["external_ref"] == [accounts.ERASED_DEBTOR_ERROR]
    assert not _columns_holding(EMAIL)


def test_the_command_refuses_an_erasure_without_a_reason(creditor, life):
    _close_all(life.debtor)
    with pytest.raises(CommandError, match="Say why"):
        call_command("debtor_erase", "WQ", creditor=creditor.slug, reason="  ")
    assert Debtor.objects.get(pk=life.debtor.pk).erased_at is None


# --- the admin ---------------------------------------------------------------------------------


def _staff(creditor=None, *, agency=False, force=False) -> Client:
    user = UserFactory(is_staff=True)
    codenames = ["view_debtor", "change_debtor", "erase_debtor"]
    if agency:
        codenames.append("view_all_creditors")
    if force:
        codenames.append("erase_open_debtor")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    if creditor is not None:
        CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    return client


def _erase_url(debtor: Debtor) -> str:
    return reverse("admin:accounts_debtor_privacy_erase", args=[debtor.pk])


def test_creditor_staff_erase_their_creditors_debtor_once_its_accounts_are_final(creditor, life):
    other = CreditorFactory(slug="other")
    (theirs,) = place(other, privacy_life.debtor_row(1, "OT"))
    client = _staff(creditor)
    page = client.get(_erase_url(life.debtor))
    assert page.status_code == 200 and "force" not in page.context["form"].fields

    refused = client.post(_erase_url(life.debtor), {"reason": "asked"})
    assert refused.status_code == 200
    assert "accounts are open" in " ".join(refused.context["form"].non_field_errors())
    empty = client.post(_erase_url(life.debtor), {"reason": ""})
    assert empty.status_code == 200 and empty.context["form"].errors["reason"]
    assert client.post(_erase_url(theirs.debtor), {"reason": "asked"}).status_code == 404

    _close_all(life.debtor)
    done = client.post(_erase_url(life.debtor), {"reason": "asked"})
    assert done.status_code == 302
    assert Debtor.objects.get(pk=life.debtor.pk).erased_at is not None
    assert Debtor.objects.get(pk=theirs.debtor.pk).erased_at is None


def test_agency_admins_with_the_permission_may_force(creditor, life):
    assert "force" not in _staff(agency=True).get(_erase_url(life.debtor)).context["form"].fields
    client = _staff(agency=True, force=True)
    assert "force" in client.get(_erase_url(life.debtor)).context["form"].fields
    response = client.post(_erase_url(life.debtor), {"reason": "deceased", "force": "on"})
    assert response.status_code == 302
    assert PrivacyAction.objects.get(kind="erasure").forced


def test_an_erased_debtors_page_is_read_only(creditor, life):
    _close_all(life.debtor)
    services.debtor_erase(debtor=life.debtor, actor="test", reason="asked")
    client = _staff(creditor)
    page = client.get(reverse("admin:accounts_debtor_change", args=[life.debtor.pk]))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert _erase_url(life.debtor) not in page.content.decode()
