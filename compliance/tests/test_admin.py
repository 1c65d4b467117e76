"""The compliance officer's admin: inline rules per region, form errors, audit, cases page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Activity, ActivityKind
from compliance import packs, services
from compliance.models import (
    RULE_MODELS,
    ContactAttempt,
    DisclosureRule,
    Region,
    RuleChange,
    RuleSetVersion,
    WindowRule,
)
from compliance.selectors import region_rules
from compliance.tests.factories import admin_form_data, debtor_account, utc

pytestmark = pytest.mark.django_db


def region_url(code: str) -> str:
    return f"/django-admin/compliance/region/{Region.objects.get(code=code).pk}/change/"


def page_data(admin_client, code: str) -> tuple[str, dict]:
    url = region_url(code)
    return url, admin_form_data(admin_client.get(url))


def rule_key(data: dict, prefix: str, code: str, field: str) -> str:
    """The POST key of ``field`` of the inline form holding rule ``code``."""
    index = next(k for k, v in data.items() if k.startswith(f"{prefix}-") and v == code)
    return f"{prefix}-{index.split('-')[1]}-{field}"


def errors_of(response) -> list[str]:
    """Every error message on the page: the main form, inline forms and formsets."""
    found = [str(e) for errs in response.context["adminform"].form.errors.values() for e in errs]
    for inline in response.context["inline_admin_formsets"]:
        for form_errors in inline.formset.errors:
            found += [str(e) for errs in form_errors.values() for e in errs]
    return found


def test_the_region_page_shows_its_rules_inline_and_the_effective_rules(admin_client):
    response = admin_client.get(region_url("US-MA"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "US-MA.phone_hours" in html and "US-MA.phone_cap_residence" in html
    # Effective rules include the ancestors' and the default's fallbacks that apply.
    assert "US.hours (window)" in html and "US.opted_out_sms (flag)" in html
    assert "as shipped in its rule pack" in html


def field_errors(response, prefix: str, code: str) -> dict[str, list[str]]:
    """The field errors of the inline form (``prefix``) that holds rule ``code``."""
    for inline in response.context["inline_admin_formsets"]:
        if inline.formset.prefix != prefix:
            continue
        for form in inline.formset.forms:
            if form.instance.code == code:
                return {name: [str(e) for e in errs] for name, errs in form.errors.items()}
    raise AssertionError(f"no form for {code}")


@pytest.mark.parametrize(
    "invalid",
    [
        {
            "weekday": ("21:00-08:00", "the start must be before the end"),
            "saturday": ("08:00-25:00", "outside the day"),
            "sunday": ("8am-9pm", "is not a window like 08:00-21:00"),
            "holiday": ("08:00-12:00, 11:00-13:00", "Windows overlap"),
        },
        {
            "weekday": ("", "This field is required"),
            "saturday": ("24:00-24:00", "not a time of day"),
        },
    ],
)
def test_invalid_windows_are_form_errors_on_their_fields_and_nothing_is_saved(
    admin_client, invalid
):
    url, data = page_data(admin_client, "US-MA")
    for day, (value, _) in invalid.items():
        data[rule_key(data, "windowrules", "US-MA.phone_hours", day)] = value
    response = admin_client.post(url, data)
    assert response.status_code == 200
    errors = field_errors(response, "windowrules", "US-MA.phone_hours")
    for day, (_, message) in invalid.items():
        assert any(message in e for e in errors.get(day, [])), (day, errors)
    assert WindowRule.objects.get(code="US-MA.phone_hours").weekday == "08:00-21:00"
    assert not RuleChange.objects.exclude(actor__startswith="system:").exists()


def test_invalid_caps_are_form_errors_on_their_fields(admin_client):
    url, data = page_data(admin_client, "US-MA")
    residence, other = "US-MA.phone_cap_residence", "US-MA.phone_cap_other_numbers"
    data[rule_key(data, "caprules", residence, "max_count")] = "0"
    data[rule_key(data, "caprules", residence, "days")] = "0"
    data[rule_key(data, "caprules", other, "period")] = "fortnightly"
    data[rule_key(data, "caprules", other, "channels")] = []
    response = admin_client.post(url, data)
    assert response.status_code == 200
    first = field_errors(response, "caprules", residence)
    second = field_errors(response, "caprules", other)
    assert "greater than or equal to 1" in first["max_count"][0]
    assert "A rolling period needs its length" in first["days"][0]
    assert "Select a valid choice" in second["period"][0]
    assert "This field is required" in second["channels"][0]


def test_invalid_region_fields_are_form_errors(admin_client):
    url, data = page_data(admin_client, "US-MA")
    data.update(holiday_subdivision="ZZ", time_zone="Mars/Olympus", code="Massachusetts")
    response = admin_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "ISO 3166" in errors["code"][0]
    assert "Unknown IANA time zone" in errors["time_zone"][0]
    data.update(time_zone="America/New_York", code="US-MA")
    errors = admin_client.post(url, data).context["adminform"].form.errors
    assert "no such calendar" in errors["holiday_country"][0]


def test_a_region_cannot_become_its_own_ancestor(admin_client):
    url, data = page_data(admin_client, "US")
    data["parent"] = Region.objects.get(code="US-MA").pk
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "A region cannot be its own ancestor." in errors_of(response)


def test_disclosure_texts_must_map_languages_to_texts(admin_client):
    url, data = page_data(admin_client, "US")
    data[rule_key(data, "disclosurerules", "US.opt_out_sms_text", "texts")] = '["Reply STOP"]'
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert any("language -> non-empty text" in e for e in errors_of(response))
    assert DisclosureRule.objects.get(code="US.opt_out_sms_text").texts == {
        "en": "Reply STOP to stop text messages about this debt."
    }


def test_a_rule_edit_is_audited_with_who_and_before_after(admin_client, admin_user):
    token = RuleSetVersion.objects.get().token
    url, data = page_data(admin_client, "US-MA")
    data[rule_key(data, "windowrules", "US-MA.phone_hours", "weekday")] = "9:00 - 21:00"
    assert admin_client.post(url, data).status_code == 302
    assert WindowRule.objects.get(code="US-MA.phone_hours").weekday == "09:00-21:00"
    change = RuleChange.objects.get(actor=f"admin:{admin_user.pk}")
    assert (change.user, change.action, change.kind) == (admin_user, "changed", "window")
    assert (change.code, change.region_code) == ("US-MA.phone_hours", "US-MA")
    assert change.before["windows"]["weekday"] == [["08:00", "21:00"]]
    assert change.after["windows"]["weekday"] == [["09:00", "21:00"]]
    assert RuleSetVersion.objects.get().token != token


def test_an_admin_edit_reaches_contact_checks_and_the_case_runner_at_once(admin_client, creditor):
    account = debtor_account(creditor, region="US-MA")
    at = utc(2026, 3, 11, 12, 30)  # Wednesday 08:30 in Boston
    assert services.contact_check(debtor=account.debtor, channel="sms", at=at).allowed
    url, data = page_data(admin_client, "US-MA")
    data[rule_key(data, "windowrules", "US-MA.phone_hours", "weekday")] = "09:00-21:00"
    assert admin_client.post(url, data).status_code == 302
    after = services.contact_check(debtor=account.debtor, channel="sms", at=at)
    assert not after.allowed
    assert {r["code"] for r in after.reasons} == {"US-MA.phone_hours"}
    assert after.next_allowed_at == utc(2026, 3, 11, 13, 0)


def test_a_new_region_with_its_own_rule_applies_to_its_debtors(admin_client, creditor):
    account = debtor_account(creditor, region="US-TX")
    at = utc(2026, 3, 11, 13, 30)  # Wednesday 08:30 in Chicago time
    assert services.contact_check(debtor=account.debtor, channel="sms", at=at).allowed
    data = admin_form_data(admin_client.get("/django-admin/compliance/region/add/"))
    data.update(
        {
            "code": "us-tx",
            "name": "Texas",
            "parent": Region.objects.get(code="US").pk,
            "time_zone": "America/Chicago",
            "holiday_country": "US",
            "holiday_subdivision": "TX",
            "windowrules-TOTAL_FORMS": 1,
            "windowrules-0-code": "US-TX.text_hours",
            "windowrules-0-title": "TX: texts 09:00-20:00 (house reading)",
            "windowrules-0-enabled": "on",
            "windowrules-0-channels": ["sms"],
            "windowrules-0-citation_text": "House policy",
            "windowrules-0-citation_url": "https://example.com/tx",
            "windowrules-0-weekday": "09:00-20:00",
            "windowrules-0-saturday": "09:00-20:00",
            "windowrules-0-sunday": "none",
            "windowrules-0-holiday": "none",
        }
    )
    response = admin_client.post("/django-admin/compliance/region/add/", data)
    assert response.status_code == 302, errors_of(response)
    assert Region.objects.get(code="US-TX").parent.code == "US"
    blocked = services.contact_check(debtor=account.debtor, channel="sms", at=at)
    assert {r["code"] for r in blocked.reasons} == {"US-TX.text_hours"}
    created = RuleChange.objects.filter(actor__startswith="admin:", action="created")
    assert {(c.kind, c.code) for c in created} == {
        ("region", "US-TX"),
        ("window", "US-TX.text_hours"),
    }


def test_saving_a_page_without_changes_writes_no_audit_and_keeps_the_cache(admin_client):
    token = RuleSetVersion.objects.get().token
    url, data = page_data(admin_client, "US")
    assert admin_client.post(url, data).status_code == 302
    assert not RuleChange.objects.filter(actor__startswith="admin:").exists()
    assert RuleSetVersion.objects.get().token == token


def test_an_extra_holiday_added_in_the_admin_is_a_no_call_day_in_ontario(admin_client, creditor):
    account = debtor_account(creditor, region="CA-ON")
    at = utc(2026, 3, 11, 15, 0)  # Wednesday 11:00 in Toronto
    assert services.contact_check(debtor=account.debtor, channel="call", at=at).allowed
    url, data = page_data(admin_client, "CA-ON")
    data.update({"extra_holidays-TOTAL_FORMS": 1, "extra_holidays-0-date": "2026-03-11"})
    assert admin_client.post(url, data).status_code == 302
    blocked = services.contact_check(debtor=account.debtor, channel="call", at=at)
    assert not blocked.allowed
    assert "public holiday" in blocked.reasons[0]["message"]


def test_adding_and_deleting_rules_and_holidays_is_audited(admin_client):
    url, data = page_data(admin_client, "US-WA")
    n = int(data["flagrules-TOTAL_FORMS"])
    data.update(
        {
            "flagrules-TOTAL_FORMS": n + 1,
            f"flagrules-{n}-code": "US-WA.no_texts_to_vulnerable",
            f"flagrules-{n}-title": "WA: no texts to vulnerable debtors (house policy)",
            f"flagrules-{n}-enabled": "on",
            f"flagrules-{n}-channels": ["sms"],
            f"flagrules-{n}-when_flags": ["vulnerable"],
            f"flagrules-{n}-citation_text": "House policy",
            f"flagrules-{n}-citation_url": "https://example.com/policy",
            "extra_holidays-TOTAL_FORMS": 1,
            "extra_holidays-0-date": "2026-12-24",
            "extra_holidays-0-name": "Christmas Eve (office closed)",
            rule_key(data, "caprules", "US-WA.weekly_cap", "DELETE"): "on",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    audit = {
        (c.action, c.kind, c.code) for c in RuleChange.objects.filter(actor__startswith="admin:")
    }
    assert audit == {
        ("created", "flag", "US-WA.no_texts_to_vulnerable"),
        ("created", "holiday", "US-WA:2026-12-24"),
        ("deleted", "cap", "US-WA.weekly_cap"),
    }
    codes = {r.code for r in region_rules("US-WA").rules}
    assert "US-WA.no_texts_to_vulnerable" in codes and "US-WA.weekly_cap" not in codes


def test_deleting_a_region_is_audited_and_its_debtors_fall_back_to_the_parent(
    admin_client, creditor
):
    account = debtor_account(creditor, region="US-MA")
    url = region_url("US-MA").replace("/change/", "/delete/")
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    audit = RuleChange.objects.filter(actor__startswith="admin:", action="deleted")
    assert {c.code for c in audit} >= {"US-MA", "US-MA.phone_hours", "US-MA.phone_cap_residence"}
    # Without US-MA the federal rules still apply (and never "allow everything").
    late = services.contact_check(debtor=account.debtor, channel="sms", at=utc(2026, 3, 12, 1, 30))
    assert {r["code"] for r in late.reasons} == {"US.hours"}


def test_without_a_default_region_the_shipped_default_still_applies(admin_client, creditor):
    account = debtor_account(creditor, region="DE")
    url = region_url("default").replace("/change/", "/delete/")
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Region.objects.filter(code="default").exists()
    call = services.contact_check(debtor=account.debtor, channel="call", at=utc(2026, 3, 11, 10))
    assert {r["code"] for r in call.reasons} == {"default.call_consent"}


# --- The cases page ---------------------------------------------------------------------------


def test_the_region_action_opens_the_cases_page_for_the_selected_regions(admin_client):
    ids = [Region.objects.get(code=c).pk for c in ("US-MA", "CA-ON")]
    response = admin_client.post(
        "/django-admin/compliance/region/", {"action": "run_cases", "_selected_action": ids}
    )
    assert response.status_code == 302
    assert response["Location"].endswith("/run-cases/?regions=CA-ON,US-MA")
    page = admin_client.get(response["Location"])
    assert page.status_code == 200 and b"CA-ON, US-MA" in page.content


def test_an_uploaded_cases_file_shows_each_result_with_reasons(admin_client):
    lines = [
        '{"id": "ok1", "region": "US-MA", "channel": "sms", "local_time": "2026-03-11T10:00",'
        ' "expected": "allow"}',
        '{"id": "bad1", "region": "US-MA", "channel": "sms", "local_time": "2026-03-11T21:00",'
        ' "expected": "allow"}',
        "{oops",
    ]
    upload = SimpleUploadedFile("mine.jsonl", "\n".join(lines).encode(), "application/jsonl")
    response = admin_client.post("/django-admin/compliance/region/run-cases/", {"file": upload})
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 passed, 1 failed, 1 malformed" in html
    run = response.context["run"]
    assert [(x["output"].get("id"), x["ok"]) for x in run.lines] == [
        ("ok1", True),
        ("bad1", False),
        (None, None),
    ]
    assert "FAILED" in html and "MALFORMED" in html and "upload:3" in html
    assert "US-MA.phone_hours" in html  # the failing case's reason, with its citation
    assert "https://law.cornell.edu/regulations/massachusetts/209-CMR-18-16" in html


def test_the_shipped_cases_of_the_selected_regions_pass(admin_client):
    response = admin_client.post(
        "/django-admin/compliance/region/run-cases/?regions=US-MA,CA-QC", {"shipped": "on"}
    )
    total = sum(len(packs.cases_read(packs.CASES_DIR / f"{c}.jsonl")) for c in ("US-MA", "CA-QC"))
    run = response.context["run"]
    assert (run.passed, run.failed, run.malformed) == (total, 0, 0)


def test_the_cases_page_reads_only_case_files_named_by_region_codes(admin_client, tmp_path):
    outside = tmp_path / "secret.jsonl"
    outside.write_text(
        '{"id": "leak", "region": "US", "channel": "sms", "local_time": "2026-03-11T10:00"}\n',
        encoding="utf-8",
    )
    relative = Path(os.path.relpath(outside, packs.CASES_DIR)).with_suffix("")
    response = admin_client.post(
        f"/django-admin/compliance/region/run-cases/?regions={relative},US-MA", {"shipped": "on"}
    )
    run = response.context["run"]
    assert response.context["regions"] == ["US-MA"]
    assert "leak" not in {line["output"].get("id") for line in run.lines}
    assert run.passed == len(packs.cases_read(packs.CASES_DIR / "US-MA.jsonl"))


def test_the_region_list_counts_rules_in_a_fixed_number_of_queries(
    admin_client, django_assert_max_num_queries
):
    admin_client.get("/django-admin/compliance/region/")  # the session's first admin page
    # session, user, second-factor device, counts, page: not one per region
    with django_assert_max_num_queries(8):
        response = admin_client.get("/django-admin/compliance/region/")
    counts = {r.code: r.rule_total for r in response.context["cl"].result_list}
    assert counts["US-MA"] == sum(
        m.objects.filter(region__code="US-MA").count() for m in RULE_MODELS.values()
    )
    assert counts["US-MA"] > 0


def test_the_cases_page_has_one_title_and_its_help_texts_show_literally(admin_client):
    html = admin_client.get("/django-admin/compliance/region/run-cases/").content.decode()
    assert html.count("<h1>") == 1 and "<h1>Run a cases file against the rules</h1>" in html
    assert "compliance/cases/&lt;region&gt;.jsonl" in html


def test_malformed_cases_are_sentences_without_python_lists(admin_client):
    lines = [
        '{"id": "c1", "region": "US-MA", "channel": "fax", "local_time": "2026-03-11T10:00"}',
        '{"id": "c2", "region": "US-MA", "channel": "sms", "local_time": "2026-03-11T10:00",'
        ' "flags": ["tired", "busy"]}',
    ]
    upload = SimpleUploadedFile("mine.jsonl", "\n".join(lines).encode(), "application/jsonl")
    response = admin_client.post("/django-admin/compliance/region/run-cases/", {"file": upload})
    html = response.content.decode()
    assert "case c1: channel must be one of call, sms, email, letter, whatsapp" in html
    assert "case c2: unknown flags: busy, tired" in html
    assert "[&#x27;" not in html and "(&#x27;" not in html


def test_the_rule_change_page_shows_its_help_texts_literally(admin_client):
    page_url, data = page_data(admin_client, "US-MA")
    data[rule_key(data, "windowrules", "US-MA.phone_hours", "title")] = "Hours"
    assert admin_client.post(page_url, data).status_code == 302
    change = RuleChange.objects.latest("pk")
    html = admin_client.get(f"/django-admin/compliance/rulechange/{change.pk}/change/").content
    assert "admin:&lt;user id&gt;" in html.decode()


def test_the_cases_page_asks_for_a_file(admin_client):
    response = admin_client.post("/django-admin/compliance/region/run-cases/", {})
    assert response.status_code == 200
    assert b"Upload a cases file or tick the shipped cases." in response.content


# --- The ledger and the audit lists -----------------------------------------------------------


def test_an_operator_logs_a_call_into_the_ledger_and_the_timeline(admin_client, creditor):
    account = debtor_account(creditor)
    response = admin_client.post(
        "/django-admin/compliance/contactattempt/add/",
        {
            "debtor": account.debtor_id,
            "account": account.pk,
            "channel": "call",
            "at_0": "2026-03-11",
            "at_1": "15:00:00",
            "outcome": "conversation",
        },
    )
    assert response.status_code == 302
    attempt = ContactAttempt.objects.get()
    assert (attempt.source, attempt.outcome, attempt.at) == (
        "operator",
        "conversation",
        utc(2026, 3, 11, 15, 0),
    )
    entry = Activity.objects.get(kind=ActivityKind.CONTACT_RECORDED)
    assert entry.data["contact_attempt"] == attempt.pk


def test_a_call_logged_for_another_debtors_account_is_a_form_error(admin_client, creditor):
    account = debtor_account(creditor, 1)
    other = debtor_account(creditor, 2)
    response = admin_client.post(
        "/django-admin/compliance/contactattempt/add/",
        {
            "debtor": other.debtor_id,
            "account": account.pk,
            "channel": "call",
            "at_0": "2026-03-11",
            "at_1": "15:00:00",
            "outcome": "no_answer",
        },
    )
    assert response.status_code == 200
    assert b"This account belongs to another debtor." in response.content
    assert not ContactAttempt.objects.exists()


@pytest.mark.parametrize(
    "page",
    ["rulechange/", "compliancedecision/", "contactattempt/", "contactattempt/add/", "region/",
     "region/add/"],
)  # fmt: skip
def test_the_compliance_admin_pages_render(admin_client, page):
    assert admin_client.get(f"/django-admin/compliance/{page}").status_code == 200
