"""Creditor users: a creditor's own staff in the admins (docs/creditor-users.md).

The role (the "Creditor users" group and the cap on its permissions), what they may not do
(act in the work queues, change debtors or accounts), the one collection action they take (a
recall, through the API's service), the agency's choice on dispute evidence, and their API keys
and webhook endpoints. That they see nothing of another creditor on any page is
tests/test_creditor_users_pages.py.
"""

from __future__ import annotations

import re
import socket
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import services
from accounts.api_keys.models import ApiKey
from accounts.models import Account, Activity, ActivityKind, CreditorUser
from accounts.roles import CREDITOR_USER_PERMISSIONS, CREDITOR_USERS_GROUP, is_creditor_user
from accounts.tenancy import creditor_scope, is_agency_staff
from accounts.tests.factories import UserFactory, api_user, creditor_user, place, row, staff_client
from accounts.webhooks.models import WebhookEndpoint, WebhookEvent
from accounts.webhooks.signing import SIGNATURE_HEADER
from messaging.models import HandoffReview, Message
from portal import services as portal
from portal.models import CallbackRequest, CallbackStatus, DisputeStatus, PortalDispute
from tests import queues_setup
from tests.queues_setup import callback_of, dispute_of, failed_message, staff
from tests.tenancy_setup import PDF

_compliance_rules_fresh = queues_setup._compliance_rules_fresh
clock = queues_setup.clock
make_variant = queues_setup.make_variant
notices = queues_setup.notices
reviewer = queues_setup.reviewer

pytestmark = pytest.mark.django_db

KEY = re.compile(r"ck_[0-9a-f]{8}_[0-9a-f]{40}")


def _fresh(user):
    """The user as the next request loads it (no permission cached)."""
    return get_user_model().objects.get(pk=user.pk)


# --- the role --------------------------------------------------------------------------------


def test_the_creditor_users_group_holds_exactly_the_roles_permissions():
    group = Group.objects.get(name=CREDITOR_USERS_GROUP)
    held = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }
    assert held == CREDITOR_USER_PERMISSIONS


def test_a_creditor_user_holds_only_the_roles_permissions_whatever_else_they_are_given(
    creditor,
):
    _, user = creditor_user(creditor, everything=True)
    user = _fresh(user)
    assert is_creditor_user(user)
    assert user.has_perm("accounts.view_debtor") and user.has_perm("accounts.recall_account")
    assert user.has_perm("webhooks.add_webhookendpoint") and user.has_perm("api_keys.add_apikey")
    for refused in (
        "accounts.change_debtor",
        "accounts.change_account",
        "accounts.add_account",
        "portal.change_portaldispute",
        "portal.change_callbackrequest",
        "messaging.change_handoffreview",
        "privacy.export_debtor",
        "privacy.erase_debtor",
        "accounts.view_all_creditors",
        "auth.view_user",
        "auth.change_group",
        "recommender.change_modelversion",
    ):
        assert not user.has_perm(refused), refused
    assert not user.has_module_perms("auth") and user.has_module_perms("accounts")
    assert creditor_scope(user) == creditor and not is_agency_staff(user)

    # The same permissions without the role: an agency operator, who holds them all.
    operator = UserFactory(is_staff=True)
    operator.user_permissions.set(Permission.objects.exclude(codename="creditor_user_role"))
    operator = _fresh(operator)
    assert not is_creditor_user(operator)
    assert operator.has_perm("portal.change_portaldispute") and is_agency_staff(operator)


def test_the_role_costs_no_query_once_the_permissions_are_loaded(
    creditor, django_assert_num_queries
):
    _, user = creditor_user(creditor)
    user = _fresh(user)
    assert user.has_perm("accounts.view_debtor")  # loads the user's and groups' permissions
    with django_assert_num_queries(0):
        assert not user.has_perm("accounts.change_debtor")
        assert is_creditor_user(user)


def test_a_superuser_cannot_be_bound_to_a_creditor_in_the_admin(creditor):
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    from accounts.models import Creditor

    superuser = UserFactory(is_staff=True, is_superuser=True)
    request = RequestFactory().get("/")
    request.user = superuser
    inline = next(i for i in site._registry[Creditor].get_inline_instances(request, creditor))
    formset = inline.get_formset(request, creditor)(
        {
            "users-TOTAL_FORMS": "1",
            "users-INITIAL_FORMS": "0",
            "users-0-user": str(superuser.pk),
            "users-0-creditor": str(creditor.pk),
        },
        instance=creditor,
        prefix="users",
    )
    assert not formset.is_valid()
    assert "superuser" in str(formset.errors)
    assert not CreditorUser.objects.filter(user=superuser).exists()


# --- read-only for collection actions ----------------------------------------------------------


@pytest.fixture
def work(clock, creditor, notices):
    """A dispute, a call back, a failed message and an open account of `creditor`."""
    return {
        "dispute": dispute_of(creditor),
        "callback": callback_of(creditor),
        "failed": failed_message(creditor, notices["collection"]),
    }


def _inspect(queue: str, pk: int) -> str:
    return reverse(f"queues_{queue}:inspect", args=[pk])


def _try_every_collection_action(client, work) -> None:
    """Every way to act on the queues' items and on accounts and debtors, as a user would."""
    dispute, callback, failed = work["dispute"], work["callback"], work["failed"]
    client.post(_inspect("disputes", dispute.pk), {"action": "assign_me"})
    client.post(_inspect("disputes", dispute.pk), {"action": "wait"})
    client.post(
        _inspect("disputes", dispute.pk),
        {"action": "resolve", "outcome": DisputeStatus.UPHELD, "note": "Not theirs."},
    )
    client.post(_inspect("callbacks", callback.pk), {"action": "outcome", "outcome": "no_answer"})
    client.post(_inspect("handoffs", failed.pk), {"action": "resend"})
    for app, model, action, data in (
        ("portal", "portaldispute", "assign_to_me", {}),
        ("portal", "portaldispute", "wait_for_evidence", {}),
        ("portal", "callbackrequest", "assign_to_me", {}),
        ("messaging", "message", "close_handoff", {"reason": "Duplicate."}),
    ):
        url = reverse("wagtail_bulk_action", args=[app, model, action])
        client.post(f"{url}?id=all", data)
    for changelist, action, pk in (
        ("portal_portaldispute", "resolve_debt_stands", dispute.pk),
        ("portal_callbackrequest", "mark_done", callback.pk),
        ("accounts_account", "mark_closed", dispute.account_id),
    ):
        client.post(
            reverse(f"admin:{changelist}_changelist"),
            {"action": action, "_selected_action": [pk]},
        )


def _state(work) -> dict:
    dispute = PortalDispute.objects.get(pk=work["dispute"].pk)
    callback = CallbackRequest.objects.get(pk=work["callback"].pk)
    return {
        "dispute": (dispute.status, dispute.assigned_to_id),
        "callback": (callback.status, callback.assigned_to_id),
        "reviews": HandoffReview.objects.count(),
        "messages": Message.objects.count(),
        "account": Account.objects.get(pk=work["dispute"].account_id).status,
        "timeline": Activity.objects.count(),
    }


def test_a_creditor_user_sees_the_queues_but_acts_in_none_of_them(work, creditor):
    client, _ = creditor_user(creditor, everything=True)
    for queue, key in (("disputes", "dispute"), ("callbacks", "callback"), ("handoffs", "failed")):
        index = client.get(reverse(f"queues_{queue}:index"))
        assert index.status_code == 200 and not index.context["may_act"], queue
        page = client.get(_inspect(queue, work[key].pk))
        assert page.status_code == 200 and not page.context["may_act"], queue
        assert b'method="post"' not in page.content, queue
    before = _state(work)
    _try_every_collection_action(client, work)
    assert _state(work) == before

    # The same requests from an operator who may act change everything they aim at.
    operator, _ = staff(creditor)
    _try_every_collection_action(operator, work)
    after = _state(work)
    assert after["dispute"] != before["dispute"] and after["reviews"] > before["reviews"]
    assert after["callback"][0] == CallbackStatus.DONE


def test_a_creditor_user_cannot_change_a_debtor_or_place_accounts(creditor):
    (account,) = place(creditor, row(1))
    client, _ = creditor_user(creditor, everything=True)
    debtor_url = reverse("admin:accounts_debtor_change", args=[account.debtor_id])
    page = client.get(debtor_url)
    assert page.status_code == 200 and not page.context["has_change_permission"]
    client.post(debtor_url, {"first_name": "Changed", "last_name": "Changed"})
    account.debtor.refresh_from_db()
    assert account.debtor.last_name == "Lovelace"
    assert client.get(reverse("admin:accounts_account_upload_csv")).status_code == 403
    listing = client.get(reverse("admin:accounts_account_changelist"))
    assert "Upload accounts" not in listing.content.decode()
    assert set(listing.context["action_form"].fields["action"].choices) == {
        ("", "---------"),
        ("recall", "Recall selected accounts (the creditor takes them back)"),
    }


# --- the recall ----------------------------------------------------------------------------------


def test_a_creditor_user_recalls_an_account_with_a_reason_through_the_apis_service(
    creditor, other_creditor, api
):
    account, other = place(creditor, row(1), row(2))
    (theirs,) = place(other_creditor, row(3))
    client, user = creditor_user(creditor)
    inspect = reverse("casework_accounts:inspect", args=[account.pk])
    recall = reverse("casework_accounts:recall", args=[account.pk])
    assert recall in client.get(inspect).content.decode()
    assert client.get(recall).status_code == 200

    with mock.patch("accounts.services.account_recall", wraps=services.account_recall) as spy:
        blank = client.post(recall, {"reason": "  "})
        assert blank.status_code == 200 and blank.context["form"].errors["reason"]
        assert not spy.called
        done = client.post(recall, {"reason": "Settled with us directly."})
        assert done.status_code == 302 and done["Location"] == inspect
        (call,) = spy.call_args_list
        assert call.kwargs["actor"] == f"admin:{user.pk}"
        api.post(f"/api/v1/accounts/{other.external_ref}/recall/")  # the API calls it too
        assert spy.call_count == 2
    account.refresh_from_db()
    assert account.status == "recalled"
    entry = Activity.objects.get(account=account, kind=ActivityKind.RECALLED)
    assert "Settled with us directly." in entry.summary
    assert entry.data["reason"] == "Settled with us directly."
    assert entry.actor == call.kwargs["actor"]
    assert WebhookEvent.objects.filter(creditor=creditor, type="account.recalled").exists()

    # Recalled: no button, and the page says why.
    assert recall not in client.get(inspect).content.decode()
    assert b"data-not-open" in client.get(recall).content
    # Another creditor's account: not found, and untouched.
    their_recall = reverse("casework_accounts:recall", args=[theirs.pk])
    assert client.get(their_recall).status_code == 404
    assert client.post(their_recall, {"reason": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "active"


def test_only_users_who_may_recall_see_the_button_or_open_the_page(creditor):
    (account,) = place(creditor, row(1))
    viewer = staff_client(creditor)  # every view permission, no recall
    inspect = reverse("casework_accounts:inspect", args=[account.pk])
    recall = reverse("casework_accounts:recall", args=[account.pk])
    assert recall not in viewer.get(inspect).content.decode()
    # Wagtail answers a refusal with its home page and a message.
    for refused in (viewer.get(recall), viewer.post(recall, {"reason": "x"})):
        assert (refused.status_code, refused["Location"]) == (302, reverse("wagtailadmin_home"))
    account.refresh_from_db()
    assert account.status == "active"


def test_a_creditor_user_recalls_from_the_django_admin_after_confirming(creditor):
    (account,) = place(creditor, row(1))
    client, _ = creditor_user(creditor)
    url = reverse("admin:accounts_account_changelist")
    chosen = {"action": "recall", "_selected_action": [account.pk]}
    assert client.post(url, chosen).status_code == 200  # the confirmation
    account.refresh_from_db()
    assert account.status == "active"
    client.post(url, {**chosen, "confirm": "yes", "reason": "Back in house."})
    account.refresh_from_db()
    assert account.status == "recalled"


# --- dispute evidence ------------------------------------------------------------------------


STATEMENT = "It was my brother, on a contract I never signed."


@pytest.fixture
def disputed(isolated, creditor):
    (account,) = place(creditor, row(1))
    return portal.dispute_raise(
        account=account,
        reason="not_mine",
        details=STATEMENT,
        document=SimpleUploadedFile("proof.pdf", PDF),
    )


def _evidence_pages(dispute) -> list[str]:
    debtor = dispute.account.debtor
    return [
        _inspect("disputes", dispute.pk),
        reverse("admin:portal_portaldispute_change", args=[dispute.pk]),
        reverse("admin:portal_portaldispute_changelist"),
        reverse("casework_debtors:inspect", args=[debtor.pk]),
        reverse("casework_accounts:inspect", args=[dispute.account_id]),
        reverse("admin:accounts_debtor_change", args=[debtor.pk]),
        reverse("admin:accounts_activity_changelist"),
    ]


def test_creditor_users_see_no_dispute_evidence_by_default(disputed, creditor, settings):
    assert settings.CREDITOR_USERS_SEE_DISPUTE_EVIDENCE is False
    document = reverse("admin:portal_portaldispute_document", args=[disputed.pk])
    client, _ = creditor_user(creditor)
    for url in _evidence_pages(disputed):
        page = client.get(url)
        assert page.status_code == 200, url
        body = page.content.decode()
        assert STATEMENT not in body and document not in body, url
    assert client.get(_inspect("disputes", disputed.pk)).context["dispute"].reason == "not_mine"
    assert client.get(document).status_code == 404

    # Agency staff see the statement and download the document.
    agency = staff_client(agency=True)
    page = agency.get(_inspect("disputes", disputed.pk)).content.decode()
    assert STATEMENT in page and document in page
    download = agency.get(document)
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF


def test_creditor_users_see_dispute_evidence_when_the_agency_allows_it(
    disputed, creditor, settings
):
    settings.CREDITOR_USERS_SEE_DISPUTE_EVIDENCE = True
    client, _ = creditor_user(creditor)
    document = reverse("admin:portal_portaldispute_document", args=[disputed.pk])
    page = client.get(_inspect("disputes", disputed.pk)).content.decode()
    assert STATEMENT in page and document in page
    assert STATEMENT in client.get(_evidence_pages(disputed)[1]).content.decode()
    download = client.get(document)
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF


# --- their API keys and webhook endpoints -----------------------------------------------------


def test_a_creditor_user_issues_and_revokes_their_own_api_keys(creditor, other_creditor):
    client, _ = creditor_user(creditor)
    their_user, _their_key = api_user(other_creditor)
    add = reverse("admin:api_keys_apikey_add")
    form = client.get(add).context["adminform"].form
    assert list(form.fields["creditor"].queryset) == [creditor]
    refused = client.post(add, {"creditor": other_creditor.pk, "name": "x", "expires_at_0": ""})
    assert refused.status_code == 200 and refused.context["adminform"].form.errors["creditor"]
    page = client.post(add, {"creditor": creditor.pk, "name": "nightly", "expires_at_0": ""})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    (plaintext,) = set(KEY.findall(page.content.decode()))
    key = ApiKey.objects.get(name="nightly")
    assert key.user.creditor_link.creditor == creditor
    assert plaintext not in client.get(reverse("admin:api_keys_apikey_changelist")).content.decode()
    client.post(
        reverse("admin:api_keys_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    theirs = ApiKey.objects.get(user=their_user)
    assert client.get(reverse("admin:api_keys_apikey_change", args=[theirs.pk])).status_code == 404


@pytest.fixture
def public_dns(monkeypatch):
    """Every host name resolves to a public address (the SSRF check resolves the URL)."""
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))]
    )


def test_a_creditor_user_adds_an_endpoint_and_sees_its_secret_once(
    public_dns, creditor, other_creditor
):
    client, _ = creditor_user(creditor)
    add = reverse("admin:webhooks_webhookendpoint_add")
    form = client.get(add).context["adminform"].form
    assert list(form.fields["creditor"].queryset) == [creditor]
    assert form.initial["creditor"] == creditor.pk
    data = {"url": "https://hooks.example.com/in", "event_types": "[]", "enabled": "on"}
    refused = client.post(add, {**data, "creditor": other_creditor.pk})
    assert refused.context["adminform"].form.errors["creditor"]
    not_https = client.post(add, {**data, "creditor": creditor.pk, "url": "http://a.example/"})
    assert not_https.context["adminform"].form.errors["url"]
    assert not WebhookEndpoint.objects.exists()

    page = client.post(add, {**data, "creditor": creditor.pk})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.creditor == creditor and endpoint.secret in page.content.decode()
    # The header the receiver verifies, as deliveries send it (accounts.webhooks.signing).
    assert f"<code>{SIGNATURE_HEADER}</code>" in page.content.decode()
    change = reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk])
    for url in (change, reverse("admin:webhooks_webhookendpoint_changelist")):
        assert endpoint.secret not in client.get(url).content.decode(), url


def test_a_creditor_user_rolls_disables_and_enables_their_endpoint_only(
    public_dns, creditor, other_creditor
):
    from accounts.webhooks import services as webhooks

    client, _ = creditor_user(creditor)
    mine = webhooks.endpoint_create(creditor=creditor, url="https://mine.example.com/in")
    theirs = webhooks.endpoint_create(creditor=other_creditor, url="https://their.example.com/in")
    roll = reverse("admin:webhooks_webhookendpoint_roll_secret", args=[mine.pk])
    assert (
        roll
        in client.get(
            reverse("admin:webhooks_webhookendpoint_change", args=[mine.pk])
        ).content.decode()
    )
    assert client.get(roll).status_code == 200  # the confirmation
    old = mine.secret
    page = client.post(roll)
    mine.refresh_from_db()
    assert mine.secret != old and mine.previous_secret == old
    assert mine.secret in page.content.decode() and "no-store" in page["Cache-Control"]

    changelist = reverse("admin:webhooks_webhookendpoint_changelist")
    client.post(changelist, {"action": "disable", "_selected_action": [mine.pk, theirs.pk]})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert not mine.enabled and theirs.enabled
    client.post(changelist, {"action": "enable", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.enabled

    their_roll = reverse("admin:webhooks_webhookendpoint_roll_secret", args=[theirs.pk])
    their_secret = theirs.secret
    assert client.get(their_roll).status_code == 404
    assert client.post(their_roll).status_code == 404
    theirs.refresh_from_db()
    assert theirs.secret == their_secret


# Admin actions that name no permission: they change nothing, or they are a library's own on
# a model that holds no creditor's data (which creditor users may not even look at).
UNNAMED = {
    "compliance.Region.run_cases": "opens the cases page for the selected regions",
    "django_q.Success.resubmit_task": "django-q2's, on the task queue",
    "django_q.Failure.resubmit_task": "django-q2's, on the task queue",
    "axes.AccessAttempt.cleanup_expired_attempts": "django-axes', on login records",
}


def test_every_admin_action_that_changes_something_names_the_permission_it_needs():
    from django.contrib import admin

    unnamed = [
        f"{model._meta.label}.{name}"
        for model, model_admin in admin.site._registry.items()
        for func, name, _description in model_admin._get_base_actions()
        if not getattr(func, "allowed_permissions", None)
        and f"{model._meta.label}.{name}" not in UNNAMED
    ]
    assert unnamed == [], "give these actions permissions=[...] (a viewer could run them)"
