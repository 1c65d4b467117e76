"""The subject access export: one .zip of everything held about one debtor, from the admin
(inside the user's creditor scope, behind `privacy.export_debtor`) and from
`manage.py debtor_export`, each export audited and on the debtor's timeline."""

from __future__ import annotations

import io
import json
import zipfile
from email import message_from_bytes, policy

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from accounts.models import Activity, ActivityKind, CreditorUser
from accounts.tests.factories import CreditorFactory, UserFactory
from collections_site.privacy import services
from collections_site.privacy.models import PrivacyAction
from compliance.models import ComplianceDecision, ContactAttempt
from messaging import tracking
from messaging.as_sent import message_as_sent
from messaging.models import Message
from recommender import features as F
from recommender.models import Decision
from tests import privacy_life
from tests.privacy_life import DOCUMENT, EMAIL, FIRST, PHONE

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated")]


def _archive(content: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content))


def test_the_archive_holds_every_apps_data_about_the_debtor(life):
    export = services.debtor_export(debtor=life.debtor, actor="test")
    archive = _archive(export.content)
    data = json.loads(archive.read("personal-data.json"))

    assert data["accounts"]["debtor"]["email"] == EMAIL
    assert data["accounts"]["debtor"]["first_name"] == FIRST
    assert len(data["accounts"]["accounts"]) == 3
    assert [p["amount"] for p in data["accounts"]["payments"]] == ["10.0000"]
    (plan,) = data["accounts"]["payment_plans"]
    assert len(plan["instalments"]) == 3
    assert {"dispute", "payment", "plan_created", "pause"} <= {
        a["kind"] for a in data["accounts"]["timeline"]
    }
    messages = data["messaging"]["messages"]
    assert len(messages) == Message.objects.filter(debtor=life.debtor).count()
    assert any(e["data"].get("text", "").startswith("This is") for m in messages
               for e in m["events"])  # fmt: skip
    assert (
        len(data["compliance"]["decisions"])
        == ComplianceDecision.objects.filter(debtor=life.debtor).count()
    )
    assert (
        len(data["compliance"]["contact_attempts"])
        == ContactAttempt.objects.filter(debtor=life.debtor).count()
    )
    recommender = data["recommender"]
    assert recommender["typology"]["code"]
    assert len(recommender["decisions"]) == Decision.objects.filter(debtor=life.debtor).count()
    assert recommender["decisions"], "the planner made no decision for the debtor"
    assert list(recommender["decisions"][0]["context"]) == list(F.CONTEXT_FEATURES)
    assert recommender["decisions"][0]["explanation"]["why"]
    portal = data["portal"]
    (dispute,) = portal["disputes"]
    assert FIRST in dispute["details"]
    assert archive.read(dispute["document"]) == DOCUMENT
    assert portal["callback_requests"] and portal["pauses"] and portal["link_requests"]
    assert portal["link_lockouts"][0]["failures"] == 1
    assert "README.txt" in archive.namelist()


def test_each_message_is_in_the_archive_as_the_debtor_received_it(life):
    archive = _archive(services.debtor_export(debtor=life.debtor, actor="test").content)
    data = json.loads(archive.read("personal-data.json"))
    by_channel = {}
    for message in data["messaging"]["messages"]:
        if message["rendered_file"]:
            by_channel.setdefault(message["channel"], message)

    email = by_channel["email"]
    eml = message_from_bytes(archive.read(email["rendered_file"]), policy=policy.default)
    assert eml["To"] == EMAIL
    assert eml["Subject"] == email["subject"]
    assert eml["Message-ID"].startswith(f"<msg-{email['id']}.")
    html = eml.get_body(("html",)).get_content()
    assert FIRST in eml.get_body(("plain",)).get_content() and FIRST in html
    # Reading the export is never counted as reading the message.
    assert tracking.open_url(message_id=email["id"]) not in html

    sms = archive.read(by_channel["sms"]["rendered_file"]).decode()
    as_sent = message_as_sent(Message.objects.get(pk=by_channel["sms"]["id"]))
    assert f"To: {PHONE}" in sms and as_sent.text in sms  # tracked links, as received

    letter = archive.read(by_channel["letter"]["rendered_file"]).decode()
    assert "<html" in letter.lower() and FIRST in letter


def test_every_export_is_audited_and_on_the_debtors_timeline(life):
    user = UserFactory()
    export = services.debtor_export(debtor=life.debtor, actor=f"admin:{user.pk}", user=user)
    action = PrivacyAction.objects.get(pk=export.action_id)
    assert (action.kind, action.debtor_id, action.user_id) == ("export", life.debtor.pk, user.pk)
    entry = Activity.objects.get(debtor=life.debtor, kind=ActivityKind.DATA_EXPORTED)
    assert entry.data["privacy_action_id"] == action.pk
    assert entry.actor == f"admin:{user.pk}"


# --- the admin ---------------------------------------------------------------------------------


def _staff(creditor=None, *, perms=("view_debtor", "export_debtor")) -> Client:
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=perms))
    if creditor is not None:
        CreditorUser.objects.create(user=user, creditor=creditor)
    client = Client()
    client.force_login(user)
    return client


def test_creditor_staff_export_their_own_creditors_debtors_only(creditor, life):
    other = CreditorFactory(slug="other")
    theirs = privacy_life.live(other, ref="OT")
    client = _staff(creditor)
    url = reverse("admin:accounts_debtor_privacy_export", args=[life.debtor.pk])
    assert client.get(url).status_code == 200  # the confirmation page
    response = client.post(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "personal-data.json" in _archive(response.content).namelist()
    assert PrivacyAction.objects.filter(debtor=life.debtor, kind="export").count() == 1

    other_url = reverse("admin:accounts_debtor_privacy_export", args=[theirs.debtor.pk])
    assert client.post(other_url).status_code == 404
    assert not PrivacyAction.objects.filter(debtor=theirs.debtor).exists()


def test_exporting_needs_the_export_permission(creditor, life):
    client = _staff(creditor, perms=("view_debtor",))
    url = reverse("admin:accounts_debtor_privacy_export", args=[life.debtor.pk])
    assert client.post(url).status_code == 403
    page = client.get(reverse("admin:accounts_debtor_change", args=[life.debtor.pk]))
    assert url not in page.content.decode()
    assert not PrivacyAction.objects.exists()


def test_the_list_action_exports_exactly_one_debtor(creditor, life):
    client = _staff(creditor)
    changelist = reverse("admin:accounts_debtor_changelist")
    response = client.post(
        changelist, {"action": "privacy_export", "_selected_action": [life.debtor.pk]}
    )
    assert response["Content-Type"] == "application/zip"
    second = privacy_life.live(creditor, ref="WQ2")
    response = client.post(
        changelist,
        {"action": "privacy_export", "_selected_action": [life.debtor.pk, second.debtor.pk]},
        follow=True,
    )
    assert "Select exactly one debtor." in response.content.decode()
    assert PrivacyAction.objects.count() == 1


# --- the command -------------------------------------------------------------------------------


def test_the_command_writes_the_archive_and_never_overwrites(creditor, life, tmp_path):
    target = tmp_path / "export.zip"
    out = io.StringIO()
    call_command("debtor_export", "WQ", creditor=creditor.slug, output=str(target), stdout=out)
    assert "personal-data.json" in _archive(target.read_bytes()).namelist()
    assert EMAIL not in out.getvalue() and FIRST not in out.getvalue()
    action = PrivacyAction.objects.get()
    assert action.actor.startswith("command:export:")

    with pytest.raises(CommandError, match="exists"):
        call_command("debtor_export", "WQ", creditor=creditor.slug, output=str(target))
    assert PrivacyAction.objects.count() == 1


@pytest.mark.parametrize(
    ("ref", "slug", "message"),
    [("WQ", "nobody", "No creditor"), ("NOPE", "acme", "No debtor")],
)
def test_the_command_refuses_an_unknown_creditor_or_debtor(life, tmp_path, ref, slug, message):
    with pytest.raises(CommandError, match=message):
        call_command("debtor_export", ref, creditor=slug, output=str(tmp_path / "x.zip"))
    assert not PrivacyAction.objects.exists()
