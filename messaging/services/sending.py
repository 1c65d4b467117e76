"""`message_send`: the one function that can cause an outbound message.

Validate-then-do: `messages_send` refuses programming errors before writing anything
(`MessageRefused`: a variant that is not live, a stage or region it is not approved for);
then, in one transaction with the accounts locked (by it, or by its caller earlier in the
same transaction), it checks each request (account status, contact address, opt-out and
cease flags, consent, `compliance.services` with an audited decision, and the content
itself), and `_messages_send_do` writes the `Message` rows — planned, or blocked with the
reasons — and their timeline entries. Delivery is enqueued after commit.

A request whose (account, slot) already has a message returns that message: a retried plan
never creates a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q import tasks as q_tasks

from accounts.bulk import bulk_insert
from accounts.models import (
    Account,
    AccountStatus,
    Activity,
    ActivityKind,
    DomainError,
    opt_out_flag,
)
from accounts.selectors import accounts_lock
from compliance import services as compliance
from messaging import content, rendering, selectors
from messaging.models import (
    ANY_STATUS_CTAS,
    Arm,
    JourneyStage,
    Message,
    MessageStatus,
    MessageVariant,
    channel_label,
)

logger = logging.getLogger(__name__)

# Flags that stop every message whatever the region's rules say.
_STOP_FLAGS = ("cease_communication", "deceased")
_OPEN_FOR_MESSAGES = frozenset({AccountStatus.ACTIVE, AccountStatus.IN_PLAN})


class MessageRefused(DomainError):
    """A send request that is wrong in itself (not a compliance block): nothing was written."""


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message to plan. `slot` defaults to the planned UTC day (one message per account
    per day); the decision record (`arm`, `propensity`, `model_version`, `explanation`) is
    stored for the recommender's learning."""

    account: Account
    variant: MessageVariant
    planned_at: datetime | None = None
    slot: str = ""
    stage: str = ""
    arm: str = Arm.POLICY
    propensity: float | None = None
    model_version: str = ""
    explanation: dict[str, Any] = field(default_factory=dict)


def message_send(
    *,
    account: Account,
    variant: MessageVariant,
    planned_at: datetime | None = None,
    slot: str = "",
    stage: str = "",
    arm: str = Arm.POLICY,
    propensity: float | None = None,
    model_version: str = "",
    explanation: dict[str, Any] | None = None,
    actor: str = "system",
) -> Message:
    """Plan one message (see `messages_send`); returns it planned, blocked, or pre-existing."""
    request = SendRequest(
        account=account,
        variant=variant,
        planned_at=planned_at,
        slot=slot,
        stage=stage,
        arm=arm,
        propensity=propensity,
        model_version=model_version,
        explanation=explanation or {},
    )
    return messages_send(requests=[request], actor=actor)[0]


def messages_send(
    *,
    requests: Sequence[SendRequest],
    actor: str = "system",
    locked: Mapping[int, Account] | None = None,
) -> list[Message]:
    """Plan many messages in one transaction; results in request order.

    Each result is `planned` (due at `planned_at`; delivery enqueued after commit when due),
    `blocked` (the audited reasons in `status_reason` and on the timeline), or the message
    that already held its (account, slot). `result.created_now` tells which: True when this
    call wrote it (a caller must not compare clocks to find out: a re-run within the same
    instant, or on a machine whose clock is behind, would look new).

    `locked`: the requests' accounts as `accounts_lock` returned them, by id, earlier in the
    transaction the caller has open (the planner locks a batch before it builds its
    candidates); they are then not read again. `MessageRefused` outside a transaction or
    for a request whose account is not among them.
    """
    if not requests:
        return []
    now = timezone.now()
    for request in requests:
        _request_validate(request)
    if locked is not None:
        _locked_validate(requests, locked)
    with transaction.atomic():
        # The accounts and their debtors are locked and read as they are now (a payment or an
        # opt-out waits for this batch, or this batch for it); the creditor row is not, or
        # planners working side by side on one creditor's accounts would queue behind each
        # other.
        if locked is None:
            accounts = accounts_lock(r.account for r in requests)
        else:
            accounts = {r.account.pk: locked[r.account.pk] for r in requests}
        for request in requests:  # refused before anything is written (rolled back)
            region = accounts[request.account.pk].debtor.region
            if not request.variant.region_matches(region):
                raise MessageRefused(
                    f"Variant {request.variant.pk} is not tagged for region {region}."
                )
        slots = [(r.account.pk, _slot(r, now)) for r in requests]
        existing = selectors.messages_in_slots(account_ids=accounts, slots=(s for _, s in slots))
        todo: dict[tuple[int, str], SendRequest] = {}
        for request, key in zip(requests, slots, strict=True):
            if key not in existing and key not in todo:
                todo[key] = request
        created = _messages_send_do(todo, accounts, now=now, actor=actor) if todo else {}
        for message in existing.values():
            message.created_now = False
        for message in created.values():
            message.created_now = True
        results = [existing.get(key) or created[key] for key in slots]
        due = [m.pk for m in created.values() if m.status == MessageStatus.PLANNED and
               m.due_at <= now]  # fmt: skip
        if due:
            transaction.on_commit(lambda: _enqueue(due))
    return results


_STAGES = frozenset(JourneyStage.values)
_ARMS = frozenset(Arm.values)


def _request_validate(request: SendRequest) -> None:
    variant = request.variant
    if not variant.live or not variant.live_revision_id:
        raise MessageRefused(f"Variant {variant.pk} is not live: only approved variants are sent.")
    if request.stage and request.stage not in _STAGES:
        raise MessageRefused(f"Unknown journey stage {request.stage!r}.")
    if request.stage and request.stage not in (variant.stages or []):
        raise MessageRefused(f"Variant {variant.pk} is not approved for stage {request.stage}.")
    if request.arm not in _ARMS:
        raise MessageRefused(f"Unknown arm {request.arm!r}.")
    if request.propensity is not None and not 0 < request.propensity <= 1:
        raise MessageRefused("A propensity is a probability in (0, 1].")
    if request.planned_at is not None and timezone.is_naive(request.planned_at):
        raise MessageRefused("planned_at must be an aware datetime.")


def _locked_validate(requests: Sequence[SendRequest], locked: Mapping[int, Account]) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise MessageRefused(
            "Accounts locked beforehand are only locked inside the transaction that locked "
            "them: call messages_send in it."
        )
    missing = {r.account.pk for r in requests} - locked.keys()
    if missing:
        raise MessageRefused(f"{len(missing)} request(s) for accounts that are not locked.")


def _slot(request: SendRequest, now: datetime) -> str:
    if request.slot:
        return request.slot[:64]
    return (request.planned_at or now).astimezone(UTC).date().isoformat()


def precheck(
    *, account: Account, channel: str, stage: str, cta: str = ""
) -> tuple[str, str] | None:
    """(code, message) when a message must not go out whatever compliance says.

    Run when a message is planned and again just before hand-off (delivery.py). A notice
    whose call to action is in `ANY_STATUS_CTAS` (a dispute's outcome, a fresh portal link,
    a lock) skips the account's status, and only that.
    """
    debtor = account.debtor
    paused_ok = account.status == AccountStatus.PAUSED and stage == JourneyStage.PAUSE_ENDING
    status_ok = paused_ok or cta in ANY_STATUS_CTAS
    if account.status not in _OPEN_FOR_MESSAGES and not status_ok:
        return "account_status", f"The account is {account.get_status_display().lower()}."
    flags = set(debtor.flags or ())
    for flag in _STOP_FLAGS:
        if flag in flags:
            return flag, f"The debtor is flagged {flag.replace('_', ' ')}."
    if opt_out_flag(channel) in flags:
        return "opted_out", f"The debtor opted out of {channel} messages."
    if channel in settings.MESSAGING_CONSENT_REQUIRED and f"consent_{channel}" not in flags:
        return "no_consent", f"{channel} messages need the debtor's recorded consent."
    if not content.recipient_for(debtor, channel):
        return "no_address", f"The debtor has no address for {channel}."
    return None


Blocked = dict[tuple[int, str], tuple[list[dict[str, str]], int | None]]
"""Blocked requests by (account, slot): the reasons and the audited decision's id, if any."""


def _messages_send_do(
    todo: dict[tuple[int, str], SendRequest],
    accounts: dict[int, Account],
    *,
    now: datetime,
    actor: str,
) -> dict[tuple[int, str], Message]:
    """Write the messages of checked requests (planned or blocked) and their timeline rows."""
    blocked, decisions = _requests_check(todo, accounts, now=now)
    sent_before = selectors.accounts_sent_to(account_ids=accounts)
    messages: dict[tuple[int, str], Message] = {}
    disclosure_cache: dict = {}
    for key, request in todo.items():
        account = accounts[request.account.pk]
        decision = decisions.get(key)
        message = _message_build(
            key,
            request,
            account,
            decision_id=str(decision.decision_id or "") if decision else "",
            initial=account.pk not in sent_before,
            now=now,
        )
        if key not in blocked:
            problem = _message_render(message, account, disclosure_cache=disclosure_cache)
            if problem:
                blocked[key] = ([problem], None)
        if key in blocked:
            reasons, _ = blocked[key]
            message.status = MessageStatus.BLOCKED
            message.status_reason = "; ".join(r["message"] for r in reasons)[:300]
            message.explanation = {**request.explanation, "blocked": reasons}
        messages[key] = message
    _messages_insert(messages)
    bulk_insert(
        Activity,
        [_activity_for(m, blocked.get(key), actor=actor, now=now) for key, m in messages.items()],
    )
    return messages


def _requests_check(
    todo: dict[tuple[int, str], SendRequest], accounts: dict[int, Account], *, now: datetime
) -> tuple[Blocked, dict[tuple[int, str], compliance.CheckResult]]:
    """`precheck` each request, then one audited compliance check for those that passed:
    (blocked requests with their reasons, compliance results by key)."""
    blocked: Blocked = {}
    checks: list[tuple[tuple[int, str], compliance.CheckRequest]] = []
    for key, request in todo.items():
        account = accounts[request.account.pk]
        problem = precheck(
            account=account,
            channel=request.variant.channel,
            stage=request.stage,
            cta=request.variant.cta,
        )
        if problem:
            blocked[key] = ([{"code": problem[0], "message": problem[1]}], None)
            continue
        checks.append(
            (
                key,
                compliance.CheckRequest(
                    debtor=account.debtor,
                    channel=request.variant.channel,
                    at=request.planned_at or now,
                    account=account,
                    purpose="send",
                ),
            )
        )
    decisions: dict[tuple[int, str], compliance.CheckResult] = {}
    if checks:
        results = compliance.contacts_check_many(checks=[c for _, c in checks])
        for (key, _), result in zip(checks, results, strict=True):
            decisions[key] = result
            if not result.allowed:
                blocked[key] = (result.reasons, result.decision_id)
    return blocked, decisions


def _message_build(
    key: tuple[int, str],
    request: SendRequest,
    account: Account,
    *,
    decision_id: str,
    initial: bool,
    now: datetime,
) -> Message:
    """The unsaved `planned` message of a request, its revision pinned, without content."""
    variant = request.variant
    due = request.planned_at or now
    return Message(
        creditor_id=account.creditor_id,
        account=account,
        debtor=account.debtor,
        variant=variant,
        variant_revision_id=variant.live_revision_id,
        channel=variant.channel,
        language=variant.language,
        stage=request.stage,
        slot=key[1],
        recipient=content.recipient_for(account.debtor, variant.channel),
        initial=initial,
        planned_at=due,
        due_at=due,
        status=MessageStatus.PLANNED,
        status_changed_at=now,
        arm=request.arm,
        propensity=request.propensity,
        model_version=request.model_version[:64],
        explanation=request.explanation,
        decision_id=decision_id,
        created_at=now,
        updated_at=now,
    )


def _message_render(
    message: Message, account: Account, *, disclosure_cache: dict
) -> dict[str, str] | None:
    """Freeze the rendered subject, body, disclosures and links on `message`; the reason
    (`content_invalid`) when the variant's content cannot be rendered."""
    variant = message.variant
    try:
        rendered = content.message_render(
            variant=variant,
            debtor=account.debtor,
            account=account,
            channel=variant.channel,
            initial=message.initial,
            disclosure_cache=disclosure_cache,
        )
    except rendering.RenderError as exc:
        logger.warning("message content refused: variant=%s error=%s", variant.pk, exc)
        return {"code": "content_invalid", "message": str(exc)}
    message.subject = rendered.subject[:300]
    message.body = rendered.body
    message.disclosures = rendered.disclosures
    message.links = rendered.links
    return None


def _activity_for(
    message: Message,
    blocked: tuple[list[dict[str, str]], int | None] | None,
    *,
    actor: str,
    now: datetime,
) -> Activity:
    """The timeline row of a message just written: planned (when and why) or blocked."""
    data = {
        "message_id": message.pk,
        "variant_id": message.variant_id,
        "revision_id": message.variant_revision_id,
        "channel": message.channel,
    }
    if message.status == MessageStatus.BLOCKED:
        reasons, decision_id = blocked or ([], None)
        kind = ActivityKind.MESSAGE_BLOCKED
        summary = f"{channel_label(message.channel)} message blocked: {message.status_reason}"
        data.update(reasons=[r["code"] for r in reasons], decision_id=decision_id)
    else:
        kind = ActivityKind.MESSAGE_PLANNED
        # The decision's short "why" (top features, or the control arm) goes on the
        # timeline so an operator sees why this message, channel and time were chosen.
        why = str((message.explanation or {}).get("why", ""))[:200]
        summary = (
            f"{channel_label(message.channel)} message planned for "
            f"{message.due_at:%Y-%m-%d %H:%M} UTC ({message.arm}"
            + (f": {why.rstrip('.')}" if why else "")  # "(policy: ...)." not "...).)."
            + ")."
        )
        data.update(
            due_at=message.due_at.isoformat(),
            arm=message.arm,
            propensity=message.propensity,
            model_version=message.model_version,
            why=why,
        )
    return Activity(
        creditor_id=message.creditor_id,
        debtor_id=message.debtor_id,
        account_id=message.account_id,
        kind=kind,
        summary=summary[:300],
        data=data,
        actor=actor[:100],
        occurred_at=now,
    )


def _messages_insert(messages: dict[tuple[int, str], Message]) -> None:
    """Insert new messages and set their ids (COPY on PostgreSQL, ids from the sequence)."""
    rows = list(messages.values())
    bulk_insert(Message, rows, set_pks=True)
    for message in rows:
        message._state.adding = False


def _enqueue(message_ids: list[int]) -> None:
    if len(message_ids) == 1:
        q_tasks.async_task("messaging.tasks.message_deliver", message_ids[0])
    else:
        q_tasks.async_task("messaging.tasks.dispatch_due")
