"""compliance.services: contact checks against the database rules, the ledger, disclosures."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as accounts_services
from accounts.models import AccountStatus, Activity, ActivityKind
from accounts.tests.factories import place, row
from compliance import services
from compliance.models import ComplianceDecision, ContactAttempt
from compliance.services import CheckRequest, LedgerError, local_to_utc
from compliance.tests.factories import debtor_account, utc

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def check(account, channel: str, at: datetime, **kwargs):
    return services.contact_check(
        debtor=account.debtor, channel=channel, at=at, account=account, **kwargs
    )


def record(account, channel: str, at: datetime, outcome: str = "delivered", **kwargs):
    return services.contact_record(
        debtor=account.debtor,
        account=account,
        channel=channel,
        at=at,
        outcome=outcome,
        source="test",
        **kwargs,
    )


def codes(result) -> set[str]:
    return {r["code"] for r in result.reasons}


# --- Time zones and DST -----------------------------------------------------------------------


def test_sms_at_0130_utc_is_2130_in_boston_after_dst_starts_and_is_blocked(creditor):
    account = debtor_account(creditor, region="US-MA")
    result = check(account, "sms", utc(2026, 3, 10, 1, 30))  # Mon 9 Mar, 21:30 EDT
    assert not result.allowed
    assert result.local_time == datetime(2026, 3, 9, 21, 30)
    assert "US-MA.phone_hours" in codes(result)
    assert result.next_allowed_at == utc(2026, 3, 9, 12, 0) + timedelta(days=1)  # 08:00 EDT


def test_the_same_utc_time_before_dst_is_2030_in_boston_and_allowed(creditor):
    account = debtor_account(creditor, region="US-MA")
    result = check(account, "sms", utc(2026, 3, 6, 1, 30))  # Thu 5 Mar, 20:30 EST
    assert result.allowed, result.reasons
    assert result.local_time == datetime(2026, 3, 5, 20, 30)
    assert result.next_allowed_at == utc(2026, 3, 6, 1, 30)


def test_email_at_1930_utc_is_2030_in_london_in_summer_time_and_blocked(creditor):
    account = debtor_account(creditor, region="GB")
    blocked = check(account, "email", utc(2026, 3, 30, 19, 30))  # 20:30 BST
    allowed = check(account, "email", utc(2026, 3, 27, 19, 30))  # 19:30 GMT
    assert account.debtor.timezone == "Europe/London"
    assert not blocked.allowed and "GB.reasonable_times" in codes(blocked)
    assert allowed.allowed, allowed.reasons


def test_next_allowed_at_is_08_00_edt_when_the_night_crosses_spring_forward(creditor):
    account = debtor_account(creditor, region="US-MA")
    # Saturday 7 March 21:30 EST; clocks go forward at 02:00 on Sunday 8 March.
    result = check(account, "sms", utc(2026, 3, 8, 2, 30))
    assert not result.allowed
    assert result.next_allowed_at == utc(2026, 3, 8, 12, 0)  # 08:00 EDT, not 13:00 UTC


def test_next_allowed_at_is_08_00_est_when_the_night_crosses_fall_back(creditor):
    account = debtor_account(creditor, region="US-MA")
    # Saturday 31 October 21:30 EDT; clocks go back at 02:00 on Sunday 1 November.
    result = check(account, "sms", utc(2026, 11, 1, 1, 30))
    assert result.next_allowed_at == utc(2026, 11, 1, 13, 0)  # 08:00 EST


def test_next_allowed_at_in_london_crosses_the_spring_forward_night(creditor):
    account = debtor_account(creditor, region="GB")
    result = check(account, "email", utc(2026, 3, 28, 20, 30))  # Sat 20:30 GMT
    assert result.next_allowed_at == utc(2026, 3, 29, 7, 0)  # Sun 08:00 BST


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        # A time in the spring-forward gap moves forward to the first instant after it.
        (datetime(2026, 3, 8, 2, 30), NEW_YORK, utc(2026, 3, 8, 7, 0)),
        (datetime(2026, 3, 29, 1, 30), LONDON, utc(2026, 3, 29, 1, 0)),
        # An ambiguous time in the fall-back fold is its earlier instant.
        (datetime(2026, 11, 1, 1, 30), NEW_YORK, utc(2026, 11, 1, 5, 30)),
        (datetime(2026, 10, 25, 1, 30), LONDON, utc(2026, 10, 25, 0, 30)),
        # Ordinary times.
        (datetime(2026, 7, 1, 9, 0), NEW_YORK, utc(2026, 7, 1, 13, 0)),
        (datetime(2026, 1, 15, 9, 0), LONDON, utc(2026, 1, 15, 9, 0)),
    ],
)
def test_local_times_map_to_utc_safely_across_dst(local, zone, expected):
    assert local_to_utc(local, zone) == expected


def test_an_ambiguous_next_time_is_never_before_the_asked_instant():
    asked = utc(2026, 11, 1, 6, 10)  # 01:10 EST, the second 01:10 of the night
    assert local_to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK, not_before=asked) == utc(
        2026, 11, 1, 6, 30
    )


# --- The ledger and caps ----------------------------------------------------------------------


def test_ma_cap_blocks_the_third_text_in_seven_days_and_says_when_it_clears(creditor):
    account = debtor_account(creditor, region="US-MA")
    record(account, "sms", utc(2026, 3, 9, 14, 0))
    assert check(account, "sms", utc(2026, 3, 11, 14, 0)).allowed
    record(account, "sms", utc(2026, 3, 10, 14, 0))
    result = check(account, "sms", utc(2026, 3, 11, 14, 0))
    assert not result.allowed
    assert codes(result) == {"US-MA.phone_cap_residence"}
    # The 9 March text leaves the 7-day window on 16 March: 08:00 EDT.
    assert result.next_allowed_at == utc(2026, 3, 16, 12, 0)
    assert check(account, "email", utc(2026, 3, 11, 14, 0)).allowed  # email is not capped


def test_busy_and_failed_attempts_do_not_count_towards_a_cap(creditor):
    account = debtor_account(creditor, region="US-MA")
    record(account, "sms", utc(2026, 3, 9, 14, 0), "failed")
    record(account, "call", utc(2026, 3, 10, 14, 0), "busy")
    assert check(account, "sms", utc(2026, 3, 11, 14, 0)).allowed


def test_a_per_debt_cap_counts_only_that_debts_contacts(creditor):
    first, second = place(creditor, row(1), row(2, debtor={"external_ref": "D-1"}))
    assert first.debtor_id == second.debtor_id
    record(first, "sms", utc(2026, 3, 9, 14, 0))
    record(first, "sms", utc(2026, 3, 10, 14, 0))
    assert not check(first, "sms", utc(2026, 3, 11, 14, 0)).allowed
    assert check(second, "sms", utc(2026, 3, 11, 14, 0)).allowed


@pytest.mark.parametrize(
    ("flags", "since"),
    [
        ([], "2026-03-03 14:00"),  # Reg F and MA: 7 days (+1 for time zones)
        (["workplace_number"], "2026-02-08 14:00"),  # MA workplace numbers: 30 days
    ],
)
def test_the_ledger_is_read_only_as_far_back_as_the_applicable_periods(creditor, flags, since):
    account = debtor_account(creditor, region="US-MA", flags=flags)
    check(account, "sms", utc(2026, 3, 11, 14, 0))  # load the rules
    with CaptureQueriesContext(connection) as queries:
        check(account, "sms", utc(2026, 3, 11, 14, 0))
    ledger = next(q["sql"] for q in queries if "compliance_contactattempt" in q["sql"])
    day, time = since.split()
    assert re.search(rf"\"at\" >= '{day}[ T]{time}", ledger), ledger


def test_an_ever_cap_reads_the_whole_ledger(creditor):
    account = debtor_account(creditor, region="CA-QC", flags=["workplace_number"])
    record(account, "call", utc(2025, 1, 6, 15, 0), "conversation")  # more than a year ago
    result = check(account, "call", utc(2026, 3, 11, 15, 0))
    assert "CA-QC.workplace_once" in codes(result)


def test_ontario_cap_after_a_conversation_long_ago_still_applies(creditor):
    account = debtor_account(creditor, region="CA-ON")
    at = utc(2026, 3, 11, 15, 0)  # Wednesday 11:00 in Toronto
    for day in (8, 9, 10):
        record(account, "email", utc(2026, 3, day, 15, 0))
    assert check(account, "email", at).allowed  # no conversation yet: the cap does not apply
    record(account, "call", utc(2026, 1, 5, 15, 0), "conversation")  # 65 days earlier
    result = check(account, "email", at)
    assert not result.allowed
    assert any("CA-ON" in code for code in codes(result))


def test_recording_with_a_reference_is_idempotent_and_takes_the_latest_outcome(creditor):
    account = debtor_account(creditor)
    first = record(account, "sms", utc(2026, 3, 9, 14, 0), reference="message:1")
    again = record(account, "sms", utc(2026, 3, 9, 14, 0), "failed", reference="message:1")
    assert again.pk == first.pk
    assert ContactAttempt.objects.get().outcome == "failed"
    assert check(account, "sms", utc(2026, 3, 9, 15, 0)).allowed  # failed does not count


def test_a_reference_reused_for_another_debtor_is_refused(creditor):
    account = debtor_account(creditor, 1)
    other = debtor_account(creditor, 2)
    record(account, "sms", utc(2026, 3, 9, 14, 0), reference="message:1")
    with pytest.raises(LedgerError):
        record(other, "sms", utc(2026, 3, 9, 14, 0), reference="message:1")


def test_recording_many_contacts_is_idempotent_in_a_constant_number_of_queries(
    creditor, django_assert_num_queries
):
    accounts = [debtor_account(creditor, i) for i in range(4)]

    def contacts(outcome: str) -> list[dict]:
        return [
            {"debtor": a.debtor, "account": a, "channel": "sms", "at": utc(2026, 3, 9, 14, i),
             "outcome": outcome, "source": "message", "reference": f"message:{i}"}
            for i, a in enumerate(accounts)
        ]  # fmt: skip

    first = services.contacts_record_many(contacts=contacts("delivered")[:2])
    with django_assert_num_queries(5):  # savepoint, read refs, update, insert, release
        both = services.contacts_record_many(contacts=contacts("failed"))
    assert [a.pk for a in both[:2]] == [a.pk for a in first]
    assert ContactAttempt.objects.count() == 4
    assert set(ContactAttempt.objects.values_list("outcome", flat=True)) == {"failed"}
    assert [a.account_id for a in both] == [a.pk for a in accounts]


def test_a_logged_call_can_go_on_the_timeline(creditor):
    account = debtor_account(creditor)
    attempt = record(
        account, "call", utc(2026, 3, 9, 14, 0), "conversation", timeline=True, actor="admin:1"
    )
    entry = Activity.objects.get(kind=ActivityKind.CONTACT_RECORDED)
    assert entry.data["contact_attempt"] == attempt.pk and entry.actor == "admin:1"
    record(account, "sms", utc(2026, 3, 9, 15, 0))  # timeline=False by default
    assert Activity.objects.filter(kind=ActivityKind.CONTACT_RECORDED).count() == 1


def test_a_naive_time_is_refused(creditor):
    account = debtor_account(creditor)
    with pytest.raises(ValueError, match="aware"):
        check(account, "sms", datetime(2026, 3, 9, 14, 0))
    with pytest.raises(ValueError, match="aware"):
        record(account, "sms", datetime(2026, 3, 9, 14, 0))


# --- Flags and account state ------------------------------------------------------------------


def test_a_debtor_opt_out_blocks_only_that_channel_for_good(creditor):
    account = debtor_account(creditor, flags=["opted_out_sms"])
    sms = check(account, "sms", utc(2026, 3, 11, 14, 0))
    assert not sms.allowed and sms.next_allowed_at is None
    assert codes(sms) == {"US.opted_out_sms"}
    assert check(account, "email", utc(2026, 3, 11, 14, 0)).allowed


def test_a_disputed_account_blocks_contact_about_that_debt(creditor):
    account = debtor_account(creditor)
    accounts_services.account_transition(account=account, status="disputed", actor="test")
    account.refresh_from_db()
    result = check(account, "email", utc(2026, 3, 11, 14, 0))
    assert not result.allowed
    assert any("disputed" in r["message"] for r in result.reasons)
    assert result.next_allowed_at is None
    # A debtor-level check (no account) does not carry the account's dispute.
    assert services.contact_check(
        debtor=account.debtor, channel="email", at=utc(2026, 3, 11, 14, 0)
    ).allowed


def test_calls_need_consent_in_a_region_without_rules_of_its_own(creditor):
    account = debtor_account(creditor, region="CA-AB")  # Alberta: no pack -> CA -> default
    result = check(account, "call", utc(2026, 3, 11, 17, 0))
    assert not result.allowed and codes(result) == {"default.call_consent"}
    late = check(account, "sms", utc(2026, 3, 12, 3, 30))  # 21:30 in Edmonton
    assert not late.allowed and codes(late) == {"default.hours"}


# --- Audit ------------------------------------------------------------------------------------


def test_every_check_writes_an_audit_row_with_reasons_and_citations(creditor):
    account = debtor_account(creditor)
    result = check(account, "sms", utc(2026, 3, 10, 1, 30), purpose="deliver")
    row = ComplianceDecision.objects.get(pk=result.decision_id)
    assert (row.debtor_id, row.account_id, row.channel) == (account.debtor_id, account.pk, "sms")
    assert row.allowed is False and row.purpose == "deliver"
    assert row.local_time == "2026-03-09T21:30" and row.time_zone == "America/New_York"
    assert row.next_allowed_at == result.next_allowed_at
    assert row.reasons == result.reasons
    assert all(r["citation_text"] and r["citation_url"] for r in row.reasons)
    assert row.rules_version


def test_a_cached_check_costs_two_queries(creditor, django_assert_num_queries):
    account = debtor_account(creditor)
    check(account, "sms", utc(2026, 3, 11, 14, 0))  # load the rules
    with django_assert_num_queries(2):  # ledger read + audit insert
        check(account, "sms", utc(2026, 3, 11, 14, 0))


# --- The batch form ---------------------------------------------------------------------------


def _requests(accounts, at):
    return [
        CheckRequest(debtor=a.debtor, channel=channel, at=at, account=a)
        for a in accounts
        for channel in ("call", "sms", "email", "letter", "whatsapp")
    ]


def test_the_batch_gives_the_same_answers_as_single_checks(creditor):
    regions = ["US-MA", "US-WA", "CA-ON", "AU", "IE", "GB"]
    accounts = [debtor_account(creditor, i, region=r) for i, r in enumerate(regions)]
    for a in accounts:
        record(a, "sms", utc(2026, 3, 9, 15, 0))
        record(a, "call", utc(2026, 3, 10, 15, 0), "conversation")
    at = utc(2026, 3, 11, 14, 0)
    batch = services.contacts_check_many(checks=_requests(accounts, at))
    single = [check(r.account, r.channel, r.at, purpose="plan") for r in _requests(accounts, at)]
    assert [(b.allowed, b.reasons, b.next_allowed_at) for b in batch] == [
        (s.allowed, s.reasons, s.next_allowed_at) for s in single
    ]
    assert {b.allowed for b in batch} == {True, False}


def test_the_batch_uses_the_same_number_of_queries_for_any_size(
    creditor, django_assert_num_queries
):
    accounts = [debtor_account(creditor, i) for i in range(8)]
    for a in accounts:
        record(a, "sms", utc(2026, 3, 9, 15, 0))
    at = utc(2026, 3, 11, 14, 0)
    services.contacts_check_many(checks=_requests(accounts[:1], at))  # load the rules
    with django_assert_num_queries(2):
        small = services.contacts_check_many(checks=_requests(accounts[:2], at))
    with django_assert_num_queries(2):
        large = services.contacts_check_many(checks=_requests(accounts, at))
    assert len(small) == 10 and len(large) == 40
    assert all(r.decision_id for r in large)


def test_the_batch_can_skip_audit_rows_and_accepts_mappings(creditor):
    account = debtor_account(creditor)
    before = ComplianceDecision.objects.count()
    (result,) = services.contacts_check_many(
        checks=[{"debtor": account.debtor, "channel": "sms", "at": utc(2026, 3, 11, 14, 0)}],
        audit=False,
    )
    assert result.allowed and result.decision_id is None
    mapping = {"debtor": account.debtor, "channel": "sms", "at": utc(2026, 3, 11, 14, 0)}
    assert services.contacts_allowed_many(checks=[mapping]) == [True]
    assert ComplianceDecision.objects.count() == before


def test_the_yes_or_no_batch_answers_what_the_checks_allow_with_no_audit_rows(
    creditor, django_assert_num_queries
):
    regions = ["US-MA", "US-WA", "CA-ON", "AU", "IE", "GB"]
    accounts = [debtor_account(creditor, i, region=r) for i, r in enumerate(regions)]
    for a in accounts:
        record(a, "sms", utc(2026, 3, 9, 15, 0))
        record(a, "call", utc(2026, 3, 10, 15, 0), "conversation")
    accounts[0].status = AccountStatus.DISPUTED  # "disputed" joins the debtor's flags
    accounts[0].save(update_fields=["status"])
    before = ComplianceDecision.objects.count()
    for at in (utc(2026, 3, 11, 14, 0), utc(2026, 3, 11, 3, 0), utc(2026, 3, 14, 22, 0)):
        checked = services.contacts_check_many(checks=_requests(accounts, at), audit=False)
        with django_assert_num_queries(2):  # the ledger, old conversations (rules cached)
            allowed = services.contacts_allowed_many(checks=_requests(accounts, at))
        assert allowed == [r.allowed for r in checked]
        assert set(allowed) == {True, False}
    assert services.contacts_allowed_many(checks=[]) == []
    assert ComplianceDecision.objects.count() == before


# --- Disclosures ------------------------------------------------------------------------------


def test_disclosures_for_a_us_sms_carry_the_us_opt_out_and_debt_collector_texts():
    later = services.disclosures_required(region="US-MA", channel="sms", language="en")
    first = services.disclosures_required(
        region="US-MA", channel="sms", language="en", initial=True
    )
    assert [d.code for d in later] == ["US.debt_collector_notice", "US.opt_out_sms_text"]
    assert [d.code for d in first] == ["US.mini_miranda", "US.opt_out_sms_text"]


def test_disclosures_fall_back_to_a_language_that_exists(db):
    (text,) = services.disclosures_required(region="FR", channel="sms", language="fr-CA")
    assert text.language == "fr" and text.code == "default.opt_out_sms_text"
    german = services.disclosures_required(
        region="FR", channel="letter", language="de", initial=True, on=date(2026, 3, 11)
    )
    assert {d.language for d in german} == {"fr"}  # the L.111-8 texts exist only in French
