"""manage.py load_rule_packs, the loading migration, and manage.py compliance_check."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import ManagementUtility, call_command
from django.core.management.base import CommandError

from compliance import engine, packs
from compliance.models import RULE_MODELS, CapRule, Region, RuleChange, RuleSetVersion
from compliance.selectors import packs_from_database
from compliance.tests.factories import admin_form_data

pytestmark = pytest.mark.django_db

CASE_FILES = sorted(packs.CASES_DIR.glob("*.jsonl"))


def run(command: str, *args: str, **options) -> tuple[str, str, int]:
    """Run a management command; returns (stdout, stderr, exit status)."""
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err, **options)
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    return out.getvalue(), err.getvalue(), status


def edit_cap(admin_client, code: str, **changes) -> None:
    """Change one cap rule of its region through the admin page."""
    rule = CapRule.objects.get(code=code)
    url = f"/django-admin/compliance/region/{rule.region_id}/change/"
    data = admin_form_data(admin_client.get(url))
    index = next(k for k, v in data.items() if k.startswith("caprules-") and v == code).split("-")[
        1
    ]
    for name, value in changes.items():
        data[f"caprules-{index}-{name}"] = value
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]


def _comparable(rule: engine.Rule) -> engine.Rule:
    """A rule with its disclosure texts in a fixed order: the engine reads only which text
    comes first (the fallback language) and looks the others up by language."""
    if isinstance(rule, engine.DisclosureRule):
        first, *rest = rule.texts
        return replace(rule, texts=(first, *sorted(rest)))
    return rule


# --- The migration and load_rule_packs --------------------------------------------------------


def test_the_migration_loaded_every_shipped_pack_exactly():
    shipped = packs.packs_load()
    from_db = packs_from_database()
    assert set(from_db) == set(shipped)
    for code, pack in shipped.items():
        assert [_comparable(r) for r in from_db[code].rules] == [
            _comparable(r) for r in pack.rules
        ], code
        assert from_db[code].holidays == pack.holidays, code
        assert (from_db[code].parent, from_db[code].time_zone) == (pack.parent, pack.time_zone)
    assert RuleChange.objects.filter(actor="system:migration").count() == 16 + sum(
        len(p.rules) for p in shipped.values()
    )


def test_loading_the_packs_again_changes_nothing():
    token = RuleSetVersion.objects.get().token
    changes = RuleChange.objects.count()
    out, _, status = run("load_rule_packs")
    assert status == 0
    assert out.strip() == "0 created, 0 updated, 92 kept (0 of them edited by an admin)"
    assert RuleChange.objects.count() == changes
    assert RuleSetVersion.objects.get().token == token


def test_an_admin_edit_is_kept_unless_forced(admin_client):
    edit_cap(admin_client, "US-MA.phone_cap_residence", max_count=3)
    out, _, _ = run("load_rule_packs")
    assert "kept (edited by an admin; --force overwrites): US-MA.phone_cap_residence" in out
    assert "(1 of them edited by an admin)" in out
    assert CapRule.objects.get(code="US-MA.phone_cap_residence").max_count == 3

    out, _, _ = run("load_rule_packs", force=True)
    assert "updated: US-MA.phone_cap_residence" in out
    assert CapRule.objects.get(code="US-MA.phone_cap_residence").max_count == 2
    audit = RuleChange.objects.filter(code="US-MA.phone_cap_residence").first()
    assert audit.actor == "system:load_rule_packs --force"
    assert (audit.before["max"], audit.after["max"]) == (3, 2)
    out, _, _ = run("load_rule_packs")
    assert "0 created, 0 updated, 92 kept (0 of them" in out


def test_a_shipped_rule_an_admin_deleted_stays_deleted_unless_forced(admin_client):
    edit_cap(admin_client, "US-MA.phone_cap_other_numbers", DELETE="on")
    assert not CapRule.objects.filter(code="US-MA.phone_cap_other_numbers").exists()
    out, _, _ = run("load_rule_packs")
    assert "kept (edited by an admin; --force overwrites): US-MA.phone_cap_other_numbers" in out
    assert not CapRule.objects.filter(code="US-MA.phone_cap_other_numbers").exists()
    out, _, _ = run("load_rule_packs", force=True)
    assert "created: US-MA.phone_cap_other_numbers" in out
    assert CapRule.objects.filter(code="US-MA.phone_cap_other_numbers").exists()


def test_a_new_pack_version_updates_unedited_rules_and_retires_dropped_ones(tmp_path: Path):
    shutil.copytree(packs.PACKS_DIR, tmp_path / "packs")
    path = tmp_path / "packs" / "US-MA.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    cap = next(r for r in data["rules"] if r["code"] == "US-MA.phone_cap_residence")
    cap["max"] = 4
    data["rules"] = [r for r in data["rules"] if r["code"] != "US-MA.phone_cap_other_numbers"]
    data["name"] = "Commonwealth of Massachusetts"
    path.write_text(json.dumps(data), encoding="utf-8")
    token = RuleSetVersion.objects.get().token

    out, _, status = run("load_rule_packs", dir=str(tmp_path / "packs"))
    assert status == 0
    assert "updated: US-MA.phone_cap_residence" in out and "updated: US-MA\n" in out
    assert "removed: US-MA.phone_cap_other_numbers" in out
    assert (
        out.splitlines()[-1]
        == "0 created, 2 updated, 89 kept (0 of them edited by an admin), 1 removed"
    )
    assert CapRule.objects.get(code="US-MA.phone_cap_residence").max_count == 4
    assert Region.objects.get(code="US-MA").name == "Commonwealth of Massachusetts"
    assert RuleSetVersion.objects.get().token != token


def test_a_broken_pack_is_refused_with_its_name(tmp_path: Path):
    (tmp_path / "XX.json").write_text(
        json.dumps({"code": "XX", "rules": [{"code": "XX.a", "kind": "window"}]}),
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="XX"):
        call_command("load_rule_packs", dir=str(tmp_path), stdout=StringIO())
    assert not Region.objects.filter(code="XX").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "XX.json: a pack must be a JSON object"),
        ('{"code": "XX", "rules": 5}', "XX.json: XX: rules must be a list of objects"),
        ('{"code": "XX", "rules": ["x"]}', "XX.json: XX: rules must be a list of objects"),
        ('{"code": "XX", "holidays": "US"}', "XX.json: XX: holidays must be an object"),
        ("not json", "XX.json: Expecting value"),
        ('{"code": "../XX"}', "../XX: code: Use ISO 3166-1"),
        ('{"code": "XX", "time_zone": "Mars/Olympus"}', "XX: time_zone: Unknown IANA time zone"),
        ('{"code": "XX", "holidays": {"country": "ZZ"}}', "XX: holidays: The holidays package"),
        ('{"code": "XX", "holidays": {"subdivision": "MA"}}', "A subdivision needs its country"),
    ],
)
def test_a_malformed_pack_is_a_clear_error_naming_it_and_loads_nothing(
    tmp_path: Path, content: str, message: str
):
    (tmp_path / "XX.json").write_text(content, encoding="utf-8")
    changes = RuleChange.objects.count()
    with pytest.raises(CommandError) as raised:
        call_command("load_rule_packs", dir=str(tmp_path), stdout=StringIO())
    assert message in str(raised.value)
    assert RuleChange.objects.count() == changes
    assert not Region.objects.filter(code__endswith="XX").exists()


def test_a_region_defined_in_two_files_is_refused(tmp_path: Path):
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text('{"code": "XX", "name": "X"}', encoding="utf-8")
    with pytest.raises(CommandError, match=r"b\.json: region XX defined twice"):
        call_command("load_rule_packs", dir=str(tmp_path), stdout=StringIO())


def test_a_rule_code_used_by_two_packs_is_refused(tmp_path: Path):
    rule = {
        "code": "X.deceased",
        "kind": "flag",
        "title": "No contact with the estate",
        "channels": "all",
        "when_flags": ["deceased"],
        "citation": {"text": "House policy", "url": "https://example.com"},
    }
    for code in ("XA", "XB"):
        pack = {"code": code, "name": code, "time_zone": "UTC", "rules": [rule]}
        (tmp_path / f"{code}.json").write_text(json.dumps(pack), encoding="utf-8")
    with pytest.raises(CommandError, match=r"XB\.json: rule X\.deceased is also in XA\.json"):
        call_command("load_rule_packs", dir=str(tmp_path), stdout=StringIO())
    assert not Region.objects.filter(code__in=["XA", "XB"]).exists()


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_a_directory_without_packs_is_an_error_not_an_empty_load(tmp_path: Path, where: str):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="rule packs"):
        call_command("load_rule_packs", dir=str(tmp_path / where), stdout=StringIO())


def test_the_command_line_exits_non_zero_on_a_bad_pack_directory(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "load_rule_packs", "--dir", str(tmp_path)]).execute()
    assert exited.value.code == 1
    assert "no *.json rule packs" in capsys.readouterr().err


def test_every_rule_kind_has_shipped_rows():
    for kind, model in RULE_MODELS.items():
        assert model.objects.filter(shipped__isnull=False).exists(), kind


# --- compliance_check -------------------------------------------------------------------------


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_shipped_cases_pass_against_the_rules_in_the_database(path: Path):
    out, err, status = run("compliance_check", cases=str(path))
    lines = out.splitlines()
    cases = [case for _, case in packs.cases_read(path)]
    assert status == 0, err
    assert lines[-1] == f"{len(cases)} passed, 0 failed"
    # The database path prints exactly what the JSON packs give: the two cannot drift.
    expected = [
        {k: v for k, v in packs.case_evaluate(case).items() if k not in ("expected", "ok")}
        for case in cases
    ]
    assert [json.loads(line) for line in lines[:-1]] == expected


def _write(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


ALLOWED = '{"id": "a", "region": "US-MA", "channel": "sms", "local_time": "2026-03-11T10:00"}'
BLOCKED = '{"id": "b", "region": "US-MA", "channel": "sms", "local_time": "2026-03-11T21:00"}'


def test_a_file_without_expectations_prints_one_decision_per_case_and_exits_0(tmp_path):
    out, _, status = run("compliance_check", cases=_write(tmp_path, ALLOWED, "", BLOCKED))
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [(x["id"], x["decision"]) for x in lines] == [("a", "allow"), ("b", "block")]
    assert set(lines[1]) == {"id", "decision", "reasons", "next_allowed_at"}
    assert lines[1]["next_allowed_at"] == "2026-03-12T08:00"
    assert lines[1]["reasons"][0]["citation_url"].startswith("https://")


def test_a_malformed_line_is_reported_with_its_number_and_the_run_goes_on(tmp_path):
    bad_channel = ALLOWED.replace('"id": "a"', '"id": "c"').replace("sms", "pigeon")
    out, _, status = run(
        "compliance_check", cases=_write(tmp_path, ALLOWED, "{not json", bad_channel, BLOCKED)
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 1
    assert lines[1]["line"] == 2 and "line 2" in lines[1]["error"]
    assert lines[2]["line"] == 3 and "channel" in lines[2]["error"]
    assert [x.get("id") for x in lines] == ["a", None, None, "b"]


def test_a_case_that_gets_another_decision_than_expected_fails_the_run(tmp_path):
    wrong = BLOCKED.replace("}", ', "expected": "allow"}')
    right = ALLOWED.replace("}", ', "expected": "allow"}')
    out, err, status = run("compliance_check", cases=_write(tmp_path, right, wrong))
    assert status == 1
    assert out.splitlines()[-1] == "1 passed, 1 failed"
    assert "FAIL b: expected allow, got block" in err


def test_all_expectations_met_exits_0_with_the_summary(tmp_path):
    right = ALLOWED.replace("}", ', "expected": "allow"}')
    out, _, status = run("compliance_check", cases=_write(tmp_path, right))
    assert (status, out.splitlines()[-1]) == (0, "1 passed, 0 failed")
