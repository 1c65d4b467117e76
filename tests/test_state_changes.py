"""Every status change writes its audit row in the same transaction.

Two halves: a scan of the services modules lists every function that changes a status (an
assignment to `.status`, a `transition(...)` or `transition_save(...)` call, an
`.update(status=...)`); the list must equal `STATUS_CHANGERS`, where each entry says how the
change is audited, so a new status-changing service cannot appear unnoticed. Then each
status-changing service of `accounts` and the portal is run with the timeline's insert made
to fail: the status must stay as it was (the audit is part of the change's transaction), and
run normally it must change with its entry.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Account, AccountStatus, Activity, Debtor, TransitionError
from accounts.tests.factories import place, row
from accounts.transitions import AuditMissing, transition_save
from portal import services as portal

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCANNED = (
    "accounts/services/*.py",
    "accounts/privacy.py",
    "portal/services/*.py",
    "portal/privacy.py",
    "messaging/services/*.py",
    "messaging/privacy.py",
    "recommender/services/*.py",
    "compliance/services.py",
)

TIMELINE = "transition_save with an accounts Activity"
OWN_AUDIT = "transition_save; the row is its own audit"
STATUS_CHANGERS: dict[str, str] = {
    # accounts: the building blocks and the services that use them
    "accounts.services.status.account_move": TIMELINE,
    "accounts.services.status.account_transition": TIMELINE + " (account_move)",
    "accounts.services.status.plans_end": "inside account_recall/close/dispute/settle and "
    "payment_record, whose account entry records it",
    "accounts.services.plans.plan_create": TIMELINE + " (plan_created)",
    "accounts.services.plans.installments_miss": "one plan_changed Activity, same transaction",
    "accounts.services.plans.plan_break": TIMELINE + " (plan_changed)",
    "accounts.services.payments._installments_apply": "inside payment_record, whose payment "
    "Activity records it",
    # portal: only its own models' statuses; account changes go through accounts.services
    "portal.services.requests.pause_request": "accounts.services.account_pause",
    "portal.services.requests.dispute_raise": "accounts.services.account_dispute",
    "portal.services.disputes.dispute_resolve": "accounts.services.account_transition; the "
    "dispute's own transition_save with a dispute Activity",
    "portal.services.disputes.dispute_wait": TIMELINE + " (dispute)",
    "portal.services.requests.callback_mark_done": "an admin_change Activity, same transaction",
    "portal.services.callbacks.callback_outcome_log": "contact_record's contact_recorded "
    "Activity, same transaction",
    "portal.services.settlement._settlement_apply": "accounts.services.account_settle; a void "
    "offer writes a portal Activity",
    "portal.services.checkout.checkout_apply": "a checkout's state; payments are recorded by "
    "payment_record, failures by a portal Activity",
    "portal.services.checkout._checkout_complete": "as checkout_apply",
    "portal.services.access.link_request_dispatch": "a link request's delivery mark; the link "
    "message writes its own timeline row",
    "portal.privacy.debtor_erase": "the erasure's data_erased Activity",
    # messaging: the outbox's own state machine, audited on the debtor's timeline
    "messaging.services.delivery._compliance_block": TIMELINE + " (rescheduled/cancelled)",
    "messaging.services.handoff.finish": TIMELINE,
    "messaging.services.handoff.retry_or_fail": TIMELINE + " when it fails; a retry is a "
    "lease released with its reason on the message",
    "messaging.services.handoff.record_sent": "message_sent Activities inserted with the "
    "status update, same transaction",
    "messaging.services.delivery._reconcile": "through record_sent and finish",
    "messaging.services.delivery._recover_expired": "a lease taken back, never handed over",
    "messaging.services.events._apply": "transition_save audited by the MessageEvent row",
    "messaging.services.sending._messages_send_do": "a new row blocked at birth, inserted "
    "with its message_blocked Activity",
    "messaging.privacy.debtor_erase": "message_cancelled Activities inserted with the update",
    # recommender: the trained model records its own changes
    "recommender.services.retraining.model_promote": OWN_AUDIT,
    "recommender.services.retraining.model_promote_if_better": OWN_AUDIT,
}


def _changes_status(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and part.attr == "status":
                        return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("transition", "transition_save"):
                return True
            if name == "update" and any(k.arg == "status" for k in node.keywords):
                return True
    return False


def status_changers(source: str, module: str) -> set[str]:
    """`module.function` for every function in `source` that changes a status."""
    found = set()
    for fn in ast.walk(ast.parse(source)):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and _changes_status(fn):
            found.add(f"{module}.{fn.name}")
    return found


def _scan() -> set[str]:
    found: set[str] = set()
    for pattern in SCANNED:
        for path in sorted(ROOT.glob(pattern)):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found |= status_changers(path.read_text(), module)
    return found


def test_every_status_changing_service_is_listed_with_its_audit():
    assert _scan() == set(STATUS_CHANGERS)


def test_the_scan_sees_a_status_written_around_the_state_machine():
    source = (
        "def sneaky(account):\n"
        "    account.status = 'paid'\n"
        "def bulk():\n"
        "    Account.objects.filter(pk=1).update(status='paid')\n"
        "def machine(m):\n"
        "    m.transition('sent')\n"
        "def reads(account):\n"
        "    return account.status\n"
    )
    assert status_changers(source, "m") == {"m.sneaky", "m.bulk", "m.machine"}


# --- the one call ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_transition_save_refuses_a_change_without_an_audit_row_and_rolls_it_back(creditor):
    (account,) = place(creditor, row(1))
    with pytest.raises(AuditMissing), transaction.atomic():
        transition_save(account, AccountStatus.PAUSED, audit=lambda _old: [])
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


@pytest.mark.django_db
def test_transition_save_refuses_a_forbidden_edge_before_writing(creditor):
    (account,) = place(creditor, row(1))
    accounts.account_recall(account=account, actor="test")
    account.refresh_from_db()
    calls = []
    with pytest.raises(TransitionError):
        transition_save(account, AccountStatus.ACTIVE, audit=calls.append)
    assert calls == []


# --- each accounts and portal service, with its audit made to fail -----------------------------


def _account_status(account: Account) -> Callable[[], str]:
    return lambda: Account.objects.values_list("status", flat=True).get(pk=account.pk)


def _flags(debtor: Debtor) -> Callable[[], list[str]]:
    return lambda: Debtor.objects.values_list("flags", flat=True).get(pk=debtor.pk)


def _plan_break_case(account: Account):
    start = timezone.localdate()
    accounts.plan_create(account=account, frequency="weekly", count=4, first_due=start, actor="t")
    portal.installments_mark_missed(today=start + timedelta(days=4))
    return (
        lambda: portal.installments_mark_missed(today=start + timedelta(days=15)),
        _account_status(account),
    )


def _installments_miss_case(account: Account):
    start = timezone.localdate()
    plan = accounts.plan_create(
        account=account, frequency="weekly", count=4, first_due=start, actor="t"
    )
    first = plan.installments.get(sequence=1)
    return (
        lambda: portal.installments_mark_missed(today=start + timedelta(days=4)),
        lambda: type(first).objects.values_list("status", flat=True).get(pk=first.pk),
    )


def _settle_case(account: Account):
    payment, _ = accounts.payment_record(
        account=account, amount=Decimal("100"), idempotency_key="k1", method="card", actor="t"
    )
    return (
        lambda: accounts.account_settle(account=account, payment=payment, actor="t", data={}),
        _account_status(account),
    )


def _pause_end_case(account: Account):
    today = timezone.localdate()
    accounts.account_pause(
        account=account, days=1, until=today - timedelta(days=1), actor="t", data={}
    )
    return (
        lambda: accounts.account_pause_end(account=account, today=today, actor="t"),
        _account_status(account),
    )


def _dispute_resolve_case(account: Account):
    dispute = portal.dispute_raise(account=account, reason="not_mine")
    return (
        lambda: portal.dispute_resolve(dispute=dispute, upheld=False, actor="admin:1"),
        _account_status(account),
    )


def _dispute_wait_case(account: Account):
    dispute = portal.dispute_raise(account=account, reason="not_mine")
    return (
        lambda: portal.dispute_wait(dispute=dispute, actor="admin:1"),
        lambda: type(dispute).objects.values_list("status", flat=True).get(pk=dispute.pk),
    )


def _callback_outcome_case(account: Account):
    day = timezone.localdate() + timedelta(days=1)
    callback = portal.callback_request(
        debtor=account.debtor, account=account, day=day, window="afternoon"
    )
    return (
        lambda: portal.callback_outcome_log(callback=callback, outcome="voicemail", actor="t"),
        lambda: type(callback).objects.values_list("status", flat=True).get(pk=callback.pk),
    )


CASES: dict[str, Callable[[Account], tuple[Callable[[], object], Callable[[], object]]]] = {
    "account_transition": lambda a: (
        lambda: accounts.account_transition(account=a, status="paused", actor="t"),
        _account_status(a),
    ),
    "account_recall": lambda a: (
        lambda: accounts.account_recall(account=a, actor="t"),
        _account_status(a),
    ),
    "account_close": lambda a: (
        lambda: accounts.account_close(account=a, actor="t", reason="erased"),
        _account_status(a),
    ),
    "payment_record in full": lambda a: (
        lambda: accounts.payment_record(
            account=a, amount=a.balance, idempotency_key="full", method="card", actor="t"
        ),
        _account_status(a),
    ),
    "plan_create": lambda a: (
        lambda: accounts.plan_create(
            account=a, frequency="weekly", count=4, first_due=timezone.localdate(), actor="t"
        ),
        _account_status(a),
    ),
    "plan_break": _plan_break_case,
    "installments_miss": _installments_miss_case,
    "account_settle": _settle_case,
    "account_pause_end": _pause_end_case,
    "portal pause_request": lambda a: (
        lambda: portal.pause_request(account=a, reason="illness", days=7),
        _account_status(a),
    ),
    "portal dispute_raise": lambda a: (
        lambda: portal.dispute_raise(account=a, reason="not_mine"),
        _account_status(a),
    ),
    "portal dispute_resolve": _dispute_resolve_case,
    "portal dispute_wait": _dispute_wait_case,
    "portal callback_outcome_log": _callback_outcome_case,
    "debtor_opt_out": lambda a: (
        lambda: accounts.debtor_opt_out(debtor=a.debtor, channel="sms", actor="t", summary="s"),
        _flags(a.debtor),
    ),
    "debtor_opt_in": lambda a: (
        (
            accounts.debtor_opt_out(debtor=a.debtor, channel="sms", actor="t", summary="s"),
            lambda: accounts.debtor_opt_in(debtor=a.debtor, channel="sms", actor="t", summary="s"),
        )[1],
        _flags(a.debtor),
    ),
    "portal preferences_update": lambda a: (
        lambda: portal.preferences_update(
            debtor=a.debtor, preferred_channel="", time_window="any", opted_out=["email"]
        ),
        _flags(a.debtor),
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(CASES))
def test_a_status_change_commits_only_with_its_timeline_entry(case, creditor, monkeypatch):
    (account,) = place(creditor, row(1))
    account = Account.objects.select_related("debtor", "creditor").get(pk=account.pk)
    change, state = CASES[case](account)
    before, entries = state(), Activity.objects.count()

    def refused(self, *args, **kwargs):
        raise RuntimeError("timeline unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(Activity, "save", refused)
        with pytest.raises(RuntimeError, match="timeline unavailable"):
            change()
    assert state() == before, "the change committed without its timeline entry"
    assert Activity.objects.count() == entries

    change()
    assert state() != before
    assert Activity.objects.count() > entries


def test_every_accounts_status_service_has_a_case():
    listed = {
        name.rsplit(".", 1)[-1]
        for name in STATUS_CHANGERS
        if name.startswith("accounts.services.") and not name.rsplit(".", 1)[-1].startswith("_")
    }
    covered = {case.removeprefix("portal ").split(" ")[0] for case in CASES}
    # The building blocks run inside every case.
    assert listed - covered <= {"account_move", "plans_end"}
