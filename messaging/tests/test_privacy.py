"""messaging's share of erasure and retention (`messaging.privacy`): the content of messages
goes, what caps, receipts and the compliance audit need stays, planned messages are cancelled,
an erasure waits for a hand-off under way, and the file backends' files go with the content."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.db.models import Q

from accounts import privacy as accounts_privacy
from accounts import services as accounts
from accounts.models import Activity, ActivityKind
from messaging import privacy, services
from messaging.models import Message, MessageEvent, MessageStatus
from messaging.tests.backends import Killed, Recorder

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _outbox(settings, tmp_path):
    settings.MESSAGING_OUTBOX_DIR = tmp_path / "outbox"
    return settings.MESSAGING_OUTBOX_DIR


def _erase(account, clock):
    debtor = account.debtor
    names = accounts_privacy.identifiers(debtor)
    with transaction.atomic():
        counts = privacy.debtor_erase(debtor=debtor, names=names, actor="test", at=clock.now)
        accounts_privacy.debtor_erase(debtor=debtor, names=names, at=clock.now)
    return counts


def _sent(make_variant, place_one, clock, channel="sms", **placed):
    account = place_one(**placed)
    message = services.message_send(
        account=account, variant=make_variant(channel), planned_at=clock.now
    )
    services.dispatch_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    return account, message


def test_erasure_removes_the_content_keeps_the_metadata_and_cancels_planned_messages(
    clock, make_variant, place_one
):
    account, sent = _sent(make_variant, place_one, clock)
    planned = services.message_send(
        account=account,
        variant=sent.variant,
        planned_at=clock.now + timedelta(days=2),
        slot="later",
    )
    kept = (sent.channel, sent.sent_at, sent.provider_id, sent.disclosures, sent.arm)

    counts = _erase(account, clock)

    sent.refresh_from_db()
    planned.refresh_from_db()
    assert (sent.recipient, sent.subject, sent.body, sent.links) == (privacy.REMOVED, "", "", [])
    assert (sent.channel, sent.sent_at, sent.provider_id, sent.disclosures, sent.arm) == kept
    assert sent.status == MessageStatus.SENT
    assert planned.status == MessageStatus.CANCELLED and planned.body == ""
    assert Activity.objects.filter(
        kind=ActivityKind.MESSAGE_CANCELLED, data__message_id=planned.pk
    ).exists()
    assert counts == {"messages": 2, "cancelled": 1, "events_scrubbed": 0}


def test_a_reply_is_erased_even_when_it_does_not_name_the_debtor(clock, make_variant, place_one):
    account, sent = _sent(make_variant, place_one, clock)
    services.sms_inbound_handle(
        from_number=account.debtor.phone,
        body="I get paid on Friday, my landlord is late",
        channel="sms",
        provider="twilio",
        provider_message_id="SM1",
    )
    _erase(account, clock)
    (reply,) = MessageEvent.objects.filter(message=sent, kind="replied")
    assert reply.data == {"text": accounts_privacy.ERASED}


def test_a_provider_refusal_quoting_the_number_is_scrubbed_from_message_and_timeline(
    clock, make_variant, place_one, twilio, settings
):
    settings.MESSAGING_SMS_BACKEND = "messaging.backends.sms.TwilioBackend"
    account = place_one(debtor={"phone": "+16175550166"})
    message = services.message_send(
        account=account, variant=make_variant("sms"), planned_at=clock.now
    )
    twilio.fail_with = (
        400,
        {"code": 21211, "message": "The 'To' number +16175550166 is not a valid phone number."},
    )
    services.dispatch_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and "+16175550166" in message.status_reason
    failed = Activity.objects.get(kind=ActivityKind.MESSAGE_FAILED)
    assert "+16175550166" in failed.summary

    _erase(account, clock)

    message.refresh_from_db()
    failed.refresh_from_db()
    assert "+16175550166" not in message.status_reason and "21211" in message.status_reason
    assert "+16175550166" not in failed.summary and "21211" in failed.summary


def test_erasure_waits_while_a_message_is_being_handed_over(
    clock, make_variant, place_one, settings
):
    Recorder.reset()
    settings.MESSAGING_SMS_BACKEND = "messaging.tests.backends.RecordingBackend"
    account = place_one()
    message = services.message_send(
        account=account, variant=make_variant("sms"), planned_at=clock.now
    )
    Recorder.die_at, Recorder.die_before_handoff = 0, True
    with pytest.raises(Killed):
        services.dispatch_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED  # claimed, hand-off under way
    with pytest.raises(privacy.MessagesInFlight):
        _erase(account, clock)
    message.refresh_from_db()
    assert message.recipient == account.debtor.phone
    Recorder.reset()


def test_the_files_of_erased_messages_go_and_the_others_stay(
    clock, make_variant, place_one, settings, tmp_path, _outbox
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    variants = {c: make_variant(c) for c in ("sms", "letter", "email")}
    mine, theirs = place_one(), place_one()
    sent = {
        (who, channel): services.message_send(
            account=who, variant=v, planned_at=clock.now, slot=channel
        )
        for who in (mine, theirs)
        for channel, v in variants.items()
    }
    services.dispatch_due()
    mail_text = lambda: "".join(p.read_text() for p in Path(tmp_path / "mail").iterdir())  # noqa: E731
    assert mine.debtor.email in mail_text() and theirs.debtor.email in mail_text()

    removed = privacy.outbox_files_remove([m.pk for (who, _), m in sent.items() if who is mine])

    assert removed >= 3
    assert not (_outbox / "sms" / f"{sent[mine, 'sms'].pk}.json").exists()
    assert (_outbox / "sms" / f"{sent[theirs, 'sms'].pk}.json").exists()
    letters = {p.stem for p in (_outbox / "letters").rglob("*.html")}
    assert letters == {str(sent[theirs, "letter"].pk)}
    assert mine.debtor.email not in mail_text() and theirs.debtor.email in mail_text()
    assert privacy.outbox_files_remove([sent[mine, "sms"].pk]) == 0  # safe to repeat


def test_retention_removes_the_content_of_messages_sent_before_the_cutoff_only(
    clock, make_variant, place_one
):
    _, old = _sent(make_variant, place_one, clock)
    clock.set(clock.now + timedelta(days=10))
    _, recent = _sent(make_variant, place_one, clock)
    cutoff = clock.now - timedelta(days=5)
    kwargs = {"region": Q(), "cutoff": cutoff, "after_final": False, "batch": 1}
    assert privacy.contents_remove(**kwargs, dry_run=True) == 1
    assert Message.objects.get(pk=old.pk).body  # a dry run changes nothing
    assert privacy.contents_remove(**kwargs, dry_run=False) == 1
    assert Message.objects.get(pk=old.pk).recipient == privacy.REMOVED
    assert Message.objects.get(pk=recent.pk).body
    assert privacy.contents_remove(**kwargs, dry_run=False) == 0


def test_retention_counted_from_the_account_becoming_final_keeps_open_accounts_messages(
    clock, make_variant, place_one
):
    account, message = _sent(make_variant, place_one, clock)
    clock.set(clock.now + timedelta(days=30))
    cutoff = clock.now - timedelta(days=5)
    kwargs = {"region": Q(), "cutoff": cutoff, "after_final": True, "batch": 10}
    assert privacy.contents_remove(**kwargs, dry_run=False) == 0  # the account is open
    accounts.account_transition(account=account, status="closed", actor="test")
    assert privacy.contents_remove(**kwargs, dry_run=False) == 0  # final only since today
    clock.set(clock.now + timedelta(days=6))
    kwargs["cutoff"] = clock.now - timedelta(days=5)
    assert privacy.contents_remove(**kwargs, dry_run=False) == 1
    assert Message.objects.get(pk=message.pk).recipient == privacy.REMOVED
