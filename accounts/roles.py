"""The back office's role for a creditor's own staff: "Creditor users".

A creditor user is a staff user who holds the marker permission
`accounts.creditor_user_role`, which the "Creditor users" group carries (made by migration
`accounts.0007`), and who is bound to one creditor by a `CreditorUser` row
(`accounts.tenancy` then narrows every page to that creditor). They see the cockpit, their
debtors, accounts, payments, plans, timelines, messages and the work queues; they manage their
own API keys and webhook endpoints; the one collection action they take is a recall.

`CREDITOR_USER_PERMISSIONS` is both what the group grants and a cap: the authentication
backend `CreditorUserPermissionCap` (first in `AUTHENTICATION_BACKENDS`) refuses a creditor
user every other permission, whatever else they were given one by one or through another
group. So a creditor user never resolves a dispute, logs a call, re-sends a message, edits a
debtor or sees every creditor (`accounts.view_all_creditors`), even by a slip in the user
admin. Superusers are never capped (Django grants them everything before any backend runs):
do not make a creditor user a superuser.

Whether creditor users see the evidence of a dispute (the debtor's uploaded document and
free-text statement) is the agency's choice: `CREDITOR_USERS_SEE_DISPUTE_EVIDENCE`
(`sees_dispute_evidence`).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

CREDITOR_USERS_GROUP = "Creditor users"
CREDITOR_USER_ROLE = "accounts.creditor_user_role"

# Everything a creditor user may be allowed. Migration accounts.0007 gives the group exactly
# these; a test keeps the two equal.
CREDITOR_USER_PERMISSIONS: frozenset[str] = frozenset(
    {
        CREDITOR_USER_ROLE,
        "wagtailadmin.access_admin",
        # Their creditor's page (read-only) and collection data: looking only.
        "accounts.view_creditor",
        "accounts.view_debtor",
        "accounts.view_account",
        "accounts.view_payment",
        "accounts.view_paymentplan",
        "accounts.view_activity",
        "messaging.view_message",
        "messaging.view_messageevent",
        "compliance.view_compliancedecision",
        "compliance.view_contactattempt",
        "recommender.view_decision",
        "recommender.view_debtortypology",
        "portal.view_portaldispute",
        "portal.view_callbackrequest",
        "portal.view_linkrequest",
        "portal.view_pauserequest",
        "portal.view_checkout",
        # The one collection action: the creditor takes an account back.
        "accounts.recall_account",
        # Their integration: API keys (issue, rename, revoke) and webhook endpoints (add,
        # change, disable, roll the secret; deliveries can be sent again).
        "api_keys.view_apikey",
        "api_keys.add_apikey",
        "api_keys.change_apikey",
        "webhooks.view_webhookendpoint",
        "webhooks.add_webhookendpoint",
        "webhooks.change_webhookendpoint",
        "webhooks.view_webhookdelivery",
        "webhooks.view_webhookevent",
    }
)
_APPS = frozenset(p.split(".", 1)[0] for p in CREDITOR_USER_PERMISSIONS)
_CACHE = "_creditor_user_role_cache"


def is_creditor_user(user: Any) -> bool:
    """Does `user` hold the creditor-user role (and is therefore capped)? Read from the
    permissions Django's `ModelBackend` caches on the user, so it costs no query of its own."""
    if not getattr(user, "is_active", False) or getattr(user, "is_superuser", False):
        return False
    cached = getattr(user, _CACHE, None)
    if cached is None:
        cached = CREDITOR_USER_ROLE in ModelBackend().get_all_permissions(user)
        setattr(user, _CACHE, cached)
    return cached


def sees_dispute_evidence(user: Any) -> bool:
    """May `user` see a dispute's evidence: the debtor's document and free-text statement?
    Every staff user may, creditor users only when the agency allows it."""
    return settings.CREDITOR_USERS_SEE_DISPUTE_EVIDENCE or not is_creditor_user(user)


class CreditorUserPermissionCap:
    """Grants nothing; refuses a creditor user any permission outside
    `CREDITOR_USER_PERMISSIONS` (Django stops at a backend's `PermissionDenied`).

    It signs nobody in and loads no user (no `get_user`: a session never names it), so
    logins and `Client.force_login` still go through `ModelBackend`.
    """

    def authenticate(self, request, **credentials) -> None:
        return None

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        if perm not in CREDITOR_USER_PERMISSIONS and is_creditor_user(user_obj):
            raise PermissionDenied
        return False

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        if app_label not in _APPS and is_creditor_user(user_obj):
            raise PermissionDenied
        return False


def may_recall(user: Any) -> bool:
    """May `user` recall accounts (`accounts.services.account_recall`) in the admins? Creditor
    users through `accounts.recall_account`; agency staff with it or with `change_account`."""
    return bool(
        getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
        and (user.has_perm("accounts.recall_account") or user.has_perm("accounts.change_account"))
    )
