"""The disputes queue's steps: assign, wait for the creditor's evidence, resolve.

A dispute is raised by the debtor (`requests.dispute_raise`): the account becomes disputed,
which stops every collection contact (compliance reads the `disputed` flag), and the dispute
gets a response deadline from its region (`dispute_response_days`). Operators then work it:

- `dispute_assign`: give it to a staff user (or take it back to unassigned).
- `dispute_wait`: waiting for the creditor's evidence, or back to open when it arrives.
- `dispute_resolve`: resolved for the debtor (upheld: the account is closed, the debt
  withdrawn) or the debt stands (the account goes back to active). The debtor is told through
  `messaging.services.dispute_outcome_send`, i.e. `message_send` with all its checks.

Each step writes its `dispute` timeline entry in the same transaction as the change; the
status changes go through `transition_save` with the dispute's state machine. Raising and
resolving send the creditor `dispute.opened` and `dispute.resolved` with the dispute
(`accounts.webhooks.events.dispute_event`); waiting and assigning send nothing.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import AccountStatus, ActivityKind, DomainError
from accounts.services import account_transition, activity_record
from accounts.transitions import transition_save
from accounts.webhooks.events import dispute_event
from accounts.webhooks.models import EventType
from messaging import services as messaging
from portal.models import DisputeStatus, PortalDispute


def dispute_response_days(region: str) -> int:
    """Days to answer a dispute raised by a debtor of `region`: the longest matching prefix
    in `PORTAL_DISPUTE_RESPONSE_DAYS` ("US-MA" uses "US"), else its "default"."""
    table = settings.PORTAL_DISPUTE_RESPONSE_DAYS
    parts = (region or "").split("-")
    for end in range(len(parts), 0, -1):
        key = "-".join(parts[:end])
        if key in table:
            return int(table[key])
    return int(table["default"])


def _lock(dispute: PortalDispute | int) -> PortalDispute:
    pk = dispute if isinstance(dispute, int) else dispute.pk
    return (
        PortalDispute.objects.select_for_update(of=("self",))
        .select_related("account__debtor", "account__creditor")
        .get(pk=pk)
    )


def _entry(dispute: PortalDispute, summary: str, actor: str, **data: Any):
    return activity_record(
        debtor=dispute.account.debtor,
        account=dispute.account,
        kind=ActivityKind.DISPUTE,
        summary=summary,
        data={"dispute_id": dispute.pk, **data},
        actor=actor,
    )


def dispute_assign(*, dispute: PortalDispute | int, user, actor: str) -> PortalDispute:
    """Assign the dispute to staff `user` (None: unassigned), with its timeline entry.
    Assigning it to whoever has it already writes nothing."""
    with transaction.atomic():
        locked = _lock(dispute)
        if locked.resolved:
            raise DomainError("This dispute is resolved: there is nothing left to assign.")
        user_id = user.pk if user is not None else None
        if locked.assigned_to_id == user_id:
            return locked
        locked.assigned_to = user
        locked.save(update_fields=["assigned_to"])
        who = user.get_username() if user is not None else "nobody"
        _entry(locked, f"Dispute {locked.pk} assigned to {who}.", actor, assigned_to=user_id)
    return locked


def dispute_wait(
    *, dispute: PortalDispute | int, actor: str, waiting: bool = True
) -> PortalDispute:
    """Waiting for the creditor's evidence (`waiting`), or back to open when it has arrived.
    Already there: nothing is written."""
    status = DisputeStatus.AWAITING_EVIDENCE if waiting else DisputeStatus.OPEN
    with transaction.atomic():
        locked = _lock(dispute)
        if locked.status == status:
            return locked
        summary = (
            f"Dispute {locked.pk}: waiting for the creditor's evidence."
            if waiting
            else f"Dispute {locked.pk}: the creditor's evidence arrived; open again."
        )
        transition_save(
            locked,
            status,
            audit=lambda old: _entry(locked, summary, actor, **{"from": old, "to": status}),
        )
    return locked


def dispute_resolve(
    *, dispute: PortalDispute | int, upheld: bool, actor: str, note: str = ""
) -> PortalDispute:
    """Resolve the dispute: upheld (resolved for the debtor: the account is closed) or the debt
    stands (the account goes back to active), the note kept on the dispute for staff, and the
    outcome sent to the debtor through `message_send`. One transaction: the account's move,
    the dispute's, their timeline entries, the creditor's `dispute.resolved` event and the
    outcome message commit together.

    An account that is no longer disputed (recalled meanwhile) keeps its status; the dispute
    is resolved and its event sent all the same.
    """
    note = (note or "").strip()
    if len(note) > 2000:
        raise DomainError("Keep the note under 2,000 characters.")
    status = DisputeStatus.UPHELD if upheld else DisputeStatus.DEBT_STANDS
    with transaction.atomic():
        locked = _lock(dispute)
        if locked.resolved:
            raise DomainError("This dispute is already resolved.")
        account = locked.account
        if account.status == AccountStatus.DISPUTED:
            account_transition(
                account=account,
                status=AccountStatus.CLOSED if upheld else AccountStatus.ACTIVE,
                actor=actor,
                reason="Dispute upheld: debt withdrawn."
                if upheld
                else "Dispute resolved: debt stands.",
                kind=ActivityKind.DISPUTE,
                event_data={"dispute_id": locked.pk},
            )
        locked.resolved_by, locked.resolution_note = actor[:100], note
        summary = f"Dispute {locked.pk} resolved: " + (
            "upheld, the debt is withdrawn." if upheld else "the debt stands."
        )
        transition_save(
            locked,
            status,
            fields=("resolved_by", "resolution_note"),
            audit=lambda old: _entry(locked, summary, actor, **{"from": old, "to": status}),
        )
        dispute_event(locked, EventType.DISPUTE_RESOLVED)
        locked.outcome_message = messaging.dispute_outcome_send(
            account=account, dispute_id=locked.pk, upheld=upheld, actor=actor
        )
        if locked.outcome_message is None:
            _entry(
                locked,
                "No outcome message could be sent (no live notice or no address on file): "
                "tell the debtor another way.",
                actor,
                outcome_message=None,
            )
        else:
            locked.save(update_fields=["outcome_message"])
    return locked
