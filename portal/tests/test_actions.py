"""Plans, settlement, pause, dispute, preferences, call backs and missed instalments."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_q.models import Schedule

from accounts.models import (
    Activity,
    ActivityKind,
    DomainError,
    InstallmentStatus,
    PaymentPlan,
    PlanStatus,
)
from accounts.services import payment_record, plan_create
from portal import selectors, services
from portal.models import (
    CallbackRequest,
    CallbackStatus,
    PauseRequest,
    PortalDispute,
    SettlementOffer,
    SettlementStatus,
)
from portal.tests.conftest import CARD_OK, nonce_of

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


# --- Plan builder -----------------------------------------------------------------------------


def test_plan_builder_shows_the_schedule_before_anything_is_agreed(debtor_client, account):
    today = timezone.localdate().isoformat()
    page = debtor_client.get(
        f"/p/a/{account.pk}/plan/?frequency=monthly&count=3&first_due={today}"
    ).content.decode()
    assert "Accept this plan" in page
    assert page.count("$40.16") == 2 and "$40.18" in page
    assert not PaymentPlan.objects.exists()


def test_accepting_a_plan_due_today_creates_it_and_asks_for_the_first_payment(
    debtor_client, account
):
    today = timezone.localdate()
    response = debtor_client.post(
        f"/p/a/{account.pk}/plan/",
        {"frequency": "monthly", "count": "3", "first_due": today.isoformat()},
    )
    assert response["Location"] == f"/p/a/{account.pk}/pay/?purpose=instalment"
    plan = PaymentPlan.objects.get()
    assert plan.instalment_count == 3 and plan.installments.count() == 3
    account.refresh_from_db()
    assert account.status == "in_plan"
    page = debtor_client.get(response["Location"]).content.decode()
    nonce = nonce_of(page)
    # The next instalment is the option already chosen.
    assert re.search(r'<input type="radio" name="purpose" value="instalment"[^>]* checked', page)
    debtor_client.post(
        f"/p/a/{account.pk}/pay/", {"nonce": nonce, "purpose": "instalment", **CARD_OK}
    )
    assert plan.installments.get(sequence=1).status == InstallmentStatus.PAID


def test_accepting_a_plan_starting_later_schedules_the_first_payment(debtor_client, account):
    later = timezone.localdate() + timedelta(days=10)
    response = debtor_client.post(
        f"/p/a/{account.pk}/plan/",
        {"frequency": "weekly", "count": "4", "first_due": later.isoformat()},
    )
    assert response["Location"] == "/p/"
    assert PaymentPlan.objects.get().installments.first().due_date == later


def test_plan_outside_the_creditors_policy_is_refused(debtor_client, account):
    # 120.50 over 13 instalments is below the 10.00 minimum instalment.
    response = debtor_client.post(
        f"/p/a/{account.pk}/plan/",
        {"frequency": "weekly", "count": "13", "first_due": timezone.localdate().isoformat()},
    )
    assert response.status_code == 200 and "Choose between 2 and 12" in response.content.decode()
    assert not PaymentPlan.objects.exists()


def test_plan_creation_is_attributed_as_a_conversion(
    debtor_client, account, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(
        services.conversion, "conversion_attribute", lambda **kw: calls.append(kw["kind"])
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.plan_accept(
            account=account, frequency="monthly", count=2, first_due=timezone.localdate()
        )
    assert calls == ["plan"]


# --- Settlement -------------------------------------------------------------------------------


@pytest.fixture
def settling(creditor):
    creditor.settlement_allowed = True
    creditor.max_settlement_discount_pct = Decimal("20")
    creditor.save()
    return creditor


def test_no_settlement_offer_unless_the_creditor_allows_it(debtor_client, account):
    response = debtor_client.get(f"/p/a/{account.pk}/settle/")
    assert response.status_code == 302
    assert not SettlementOffer.objects.exists()


def test_paying_the_settlement_amount_settles_the_account(settling, debtor_client, account):
    page = debtor_client.get(f"/p/a/{account.pk}/settle/").content.decode()
    offer = SettlementOffer.objects.get()
    assert offer.amount == Decimal("96.40") and "$96.40" in page and "$24.10" in page
    debtor_client.post(
        f"/p/a/{account.pk}/settle/", {"nonce": nonce_of(page), "offer": offer.pk, **CARD_OK}
    )
    account.refresh_from_db()
    offer.refresh_from_db()
    assert account.status == "settled"
    assert account.current_balance == Decimal("24.10")  # the written-off remainder
    assert offer.status == SettlementStatus.ACCEPTED and offer.written_off == Decimal("24.10")
    assert Activity.objects.filter(data__to="settled", data__offer_id=offer.pk).exists()


def test_an_expired_settlement_offer_cannot_be_paid(settling, debtor_client, account):
    page = debtor_client.get(f"/p/a/{account.pk}/settle/").content.decode()
    offer = SettlementOffer.objects.get()
    SettlementOffer.objects.filter(pk=offer.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    response = debtor_client.post(
        f"/p/a/{account.pk}/settle/", {"nonce": nonce_of(page), "offer": offer.pk, **CARD_OK}
    )
    assert "expired" in response.content.decode()
    account.refresh_from_db()
    assert account.status == "active" and account.current_balance == Decimal("120.50")


def test_a_settlement_offer_is_void_once_the_balance_changes(settling, debtor_client, account):
    debtor_client.get(f"/p/a/{account.pk}/settle/")
    offer = SettlementOffer.objects.get()
    payment_record(account=account, amount="10.00", idempotency_key="k", method="card", actor="t")
    account.refresh_from_db()
    assert not services.settlement_offer_valid(offer=offer, account=account)
    fresh = services.settlement_offer_make(account=account)
    assert fresh.pk != offer.pk and fresh.balance == Decimal("110.50")


# --- Pause ------------------------------------------------------------------------------------


def test_breathing_space_pauses_the_account_until_the_chosen_day(debtor_client, account):
    response = debtor_client.post(f"/p/a/{account.pk}/pause/", {"reason": "illness", "days": "21"})
    assert response["Location"] == "/p/"
    account.refresh_from_db()
    assert account.status == "paused"
    assert account.paused_until == selectors.debtor_today(account.debtor) + timedelta(days=21)
    entry = Activity.objects.get(kind=ActivityKind.PAUSE)
    assert entry.data["stage_after"] == "pause_ending"
    assert "illness" not in str(entry.data) + entry.summary  # health data stays off the timeline
    assert PauseRequest.objects.get().reason == "illness"


def test_a_pause_longer_than_the_creditor_allows_is_refused(debtor_client, account):
    response = debtor_client.post(f"/p/a/{account.pk}/pause/", {"reason": "other", "days": "31"})
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.status == "active"


# --- Dispute ----------------------------------------------------------------------------------


def test_dispute_with_a_pdf_flags_the_account_disputed_and_cancels_the_plan(
    debtor_client, account, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    plan_create(account=account, frequency="monthly", count=2,
                first_due=timezone.localdate(), actor="t")  # fmt: skip
    upload = SimpleUploadedFile("my letter.pdf", PDF, content_type="application/pdf")
    response = debtor_client.post(
        f"/p/a/{account.pk}/dispute/",
        {"reason": "paid", "details": "Paid in May", "document": upload},
    )
    assert response["Location"] == "/p/"
    account.refresh_from_db()
    dispute = PortalDispute.objects.get()
    assert account.status == "disputed"
    assert dispute.document_type == "application/pdf"
    assert "my letter" not in dispute.document.name and dispute.document.name.endswith(".pdf")
    assert PaymentPlan.objects.get().status == PlanStatus.CANCELLED
    entry = Activity.objects.get(kind=ActivityKind.DISPUTE)
    assert "Paid in May" not in str(entry.data)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("invoice.pdf", b"MZ\x90\x00 this is an executable"),  # renamed .exe
        ("photo.jpg", PNG),  # extension and content disagree
        ("notes.txt", b"hello"),
    ],
)
def test_dispute_documents_are_checked_by_content(debtor_client, account, name, content):
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")
    response = debtor_client.post(
        f"/p/a/{account.pk}/dispute/", {"reason": "other", "document": upload}
    )
    assert response.status_code == 200 and "PDF, PNG or JPG" in response.content.decode()
    account.refresh_from_db()
    assert account.status == "active" and not PortalDispute.objects.exists()


def test_dispute_documents_over_the_size_limit_are_refused(debtor_client, account, settings):
    settings.PORTAL_UPLOAD_MAX_BYTES = 1024
    upload = SimpleUploadedFile("big.pdf", PDF + b"0" * 2048)
    response = debtor_client.post(
        f"/p/a/{account.pk}/dispute/", {"reason": "other", "document": upload}
    )
    assert "too large" in response.content.decode()
    assert not PortalDispute.objects.exists()


def test_operator_resolving_a_dispute_returns_the_account_to_active(account, tmp_path):
    dispute = services.dispute_raise(account=account, reason="amount")
    services.dispute_resolve(dispute=dispute, upheld=False, actor="admin:1")
    account.refresh_from_db()
    assert account.status == "active"
    with pytest.raises(DomainError):
        services.dispute_resolve(dispute=dispute, upheld=True, actor="admin:1")


# --- Preferences ------------------------------------------------------------------------------


def test_opting_out_of_sms_sets_the_compliance_flag_and_the_timeline(debtor_client, account):
    response = debtor_client.post(
        "/p/preferences/",
        {"preferred_channel": "email", "time_window": "evening", "opted_out": ["sms"]},
    )
    assert response["Location"] == "/p/preferences/"
    debtor = account.debtor
    debtor.refresh_from_db()
    assert "opted_out_sms" in debtor.flags and debtor.preferred_channel == "email"
    assert (debtor.preferred_hours_start.hour, debtor.preferred_hours_end.hour) == (17, 21)
    change = Activity.objects.get(kind=ActivityKind.PREFERENCE_CHANGE)
    assert change.data["opted_out"] == ["sms"]
    assert Activity.objects.get(kind=ActivityKind.OPTED_OUT).data == {"channel": "sms"}
    # Opting back in removes only that flag.
    debtor_client.post("/p/preferences/", {"preferred_channel": "", "time_window": "any"})
    debtor.refresh_from_db()
    assert "opted_out_sms" not in debtor.flags
    assert debtor.preferred_hours_start is None


def test_preferred_channel_cannot_be_an_opted_out_one(debtor_client, account):
    response = debtor_client.post(
        "/p/preferences/",
        {"preferred_channel": "sms", "time_window": "any", "opted_out": ["sms"]},
    )
    assert response.status_code == 200
    account.debtor.refresh_from_db()
    assert "opted_out_sms" not in account.debtor.flags


# --- Call back --------------------------------------------------------------------------------


def test_call_back_request_becomes_an_open_operator_task_in_local_time(debtor_client, account):
    day = selectors.debtor_today(account.debtor) + timedelta(days=1)
    response = debtor_client.post("/p/callback/", {"day": day.isoformat(), "window": "morning"})
    assert response["Location"] == "/p/"
    callback = CallbackRequest.objects.get()
    local = timezone.localtime(
        callback.window_start, timezone=selectors.debtor_zone(account.debtor)
    )
    assert (local.date(), local.hour) == (day, 9)
    assert callback.status == CallbackStatus.OPEN
    assert Activity.objects.filter(kind=ActivityKind.CALLBACK_REQUESTED).count() == 1
    again = debtor_client.post("/p/callback/", {"day": day.isoformat(), "window": "evening"})
    assert "already have a call back" in again.content.decode()


def test_operators_see_call_backs_in_the_admin_and_mark_them_done(client, account):
    day = selectors.debtor_today(account.debtor) + timedelta(days=2)
    callback = services.callback_request(
        debtor=account.debtor, account=account, day=day, window="afternoon"
    )
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(admin)
    listing = client.get("/django-admin/portal/callbackrequest/?status__exact=open")
    assert listing.status_code == 200 and account.debtor.phone in listing.content.decode()
    client.post(
        "/django-admin/portal/callbackrequest/",
        {"action": "mark_done", "_selected_action": [callback.pk]},
    )
    callback.refresh_from_db()
    assert callback.status == CallbackStatus.DONE and callback.done_by == f"admin:{admin.pk}"


# --- Missed instalments -----------------------------------------------------------------------


def test_overdue_instalment_is_missed_then_the_plan_breaks_and_contact_resumes(account):
    start = timezone.localdate()
    plan = plan_create(account=account, frequency="weekly", count=4, first_due=start, actor="t")
    assert services.installments_mark_missed(today=start + timedelta(days=3)) == {
        "missed": 0, "broken": 0}  # fmt: skip
    counts = services.installments_mark_missed(today=start + timedelta(days=4))
    assert counts == {"missed": 1, "broken": 0}
    assert plan.installments.get(sequence=1).status == InstallmentStatus.MISSED
    account.refresh_from_db()
    assert account.status == "in_plan"
    missed = Activity.objects.get(data__event="instalment_missed")
    assert missed.data["stage"] == "missed_instalment"
    # Running again the same day changes nothing.
    assert services.installments_mark_missed(today=start + timedelta(days=4)) == {
        "missed": 0, "broken": 0}  # fmt: skip
    services.installments_mark_missed(today=start + timedelta(days=15))
    plan.refresh_from_db()
    account.refresh_from_db()
    assert plan.status == PlanStatus.BROKEN and account.status == "active"
    broken = Activity.objects.get(data__event="plan_broken")
    assert broken.data["stage"] == "missed_instalment" and broken.data["to"] == "active"


def test_a_paid_instalment_is_never_marked_missed(account):
    start = timezone.localdate()
    plan = plan_create(account=account, frequency="weekly", count=4, first_due=start, actor="t")
    first = plan.installments.get(sequence=1)
    payment_record(account=account, amount=str(first.amount.quantize(Decimal("0.01"))),
                   idempotency_key="p1", method="card", actor="t")  # fmt: skip
    assert services.installments_mark_missed(today=start + timedelta(days=5))["missed"] == 0


def test_instalments_are_not_missed_while_the_account_is_paused(account):
    start = timezone.localdate()
    plan_create(account=account, frequency="weekly", count=4, first_due=start, actor="t")
    account.refresh_from_db()
    services.pause_request(account=account, reason="job_loss", days=30)
    assert services.installments_mark_missed(today=start + timedelta(days=20)) == {
        "missed": 0, "broken": 0}  # fmt: skip


def test_the_daily_missed_instalment_schedule_exists_once():
    schedules = Schedule.objects.filter(name="portal.installments_mark_missed")
    assert schedules.count() == 1
    assert schedules.get().func == "portal.tasks.installments_mark_missed"


# --- The debtor's wall clock ------------------------------------------------------------------


def test_a_debtor_without_a_usable_zone_lives_on_their_regions_clock_as_compliance_reads_it(
    creditor,
):
    from accounts.tests.factories import place, row
    from compliance.services import debtor_zone as compliance_zone

    (placed,) = place(creditor, row(7, debtor={"region": "AU"}))
    debtor = placed.debtor
    debtor.timezone = "Not/AZone"
    assert str(selectors.debtor_zone(debtor)) == "Australia/Sydney"
    assert selectors.debtor_zone(debtor) == compliance_zone(debtor)[1]
    assert (
        selectors.debtor_today(debtor)
        == timezone.localtime(timezone=compliance_zone(debtor)[1]).date()
    )
