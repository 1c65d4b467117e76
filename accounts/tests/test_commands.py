import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Account, Activity, Creditor, Payment, PaymentPlan
from accounts.placement import CSV_COLUMNS

pytestmark = pytest.mark.django_db

HEADER = ",".join(CSV_COLUMNS)


def csv_line(ref: str, **cells: str) -> str:
    values = {
        "external_ref": ref, "currency": "USD", "original_amount": "99.99",
        "due_date": "2026-09-30", "debtor_external_ref": f"D-{ref}",
        "debtor_first_name": "Grace", "debtor_last_name": "Hopper",
        "debtor_phone": "+16175550199", "debtor_region": "US-MA",
        "debtor_flags": "cell_phone;consent_sms", **cells,
    }  # fmt: skip
    return ",".join(values.get(col, "") for col in CSV_COLUMNS)


def test_import_accounts_places_rows_and_is_idempotent(tmp_path, creditor, capsys):
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join([HEADER, csv_line("A1"), csv_line("A2")]) + "\n")
    call_command("import_accounts", str(path), creditor="acme")
    assert "2 created" in capsys.readouterr().out
    call_command("import_accounts", str(path), creditor="acme")
    assert "2 unchanged" in capsys.readouterr().out
    account = Account.objects.get(external_ref="A1")
    assert account.debtor.flags == ["cell_phone", "consent_sms"]


def test_import_reports_rejected_lines_and_exits_1(tmp_path, creditor, capsys):
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join([HEADER, csv_line("A1"), csv_line("A2", currency="QQQ")]))
    with pytest.raises(SystemExit) as exit_info:
        call_command("import_accounts", str(path), creditor="acme")
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "1 created" in captured.out
    # One sentence per error, naming the line and the CSV column (never a raw dict).
    assert "Line 3 (A2): currency — " in captured.err and "QQQ" in captured.err
    assert "{" not in captured.err
    assert Account.objects.filter(external_ref="A1").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"external_ref,shoe_size\nA,42\n", r"Unknown column\(s\): shoe_size"),
        (b"", "empty or has no header"),
        (HEADER.encode() + b"\n", "has no rows"),
        (HEADER.encode() + b"\n" + b"," * len(CSV_COLUMNS) + b"extra\n", "more cells"),
    ],
)
def test_import_refuses_unreadable_files(tmp_path, creditor, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        call_command("import_accounts", str(path), creditor="acme")


def test_import_needs_an_existing_creditor_and_file(tmp_path, creditor):
    with pytest.raises(CommandError, match="No creditor"):
        call_command("import_accounts", str(tmp_path / "x.csv"), creditor="nobody")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_accounts", str(tmp_path / "missing.csv"), creditor="acme")


def test_seed_demo_is_idempotent(capsys, settings):
    settings.DEBUG = True  # the local demo: admin / admin
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "200 created" in out and "API key" in out
    counts = (Account.objects.count(), Payment.objects.count(), PaymentPlan.objects.count(),
              Activity.objects.count())  # fmt: skip
    call_command("seed_demo")
    assert "200 unchanged" in capsys.readouterr().out
    assert counts == (Account.objects.count(), Payment.objects.count(),
                      PaymentPlan.objects.count(), Activity.objects.count())  # fmt: skip
    creditor = Creditor.objects.get(slug="demo")
    regions = set(creditor.debtors.values_list("region", flat=True))
    assert regions == {"US", "US-MA", "US-WA", "CA-ON", "CA-QC", "GB", "IE", "FR", "DE", "AU"}
    statuses = set(Account.objects.values_list("status", flat=True))
    assert {"active", "paid", "in_plan"} <= statuses
    languages = set(creditor.debtors.values_list("language", flat=True))
    assert {"en", "fr", "de"} <= languages


def test_seed_demo_refuses_admin_admin_when_debug_is_off(monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)

    with pytest.raises(CommandError, match="Refusing to create the demo superuser") as refused:
        call_command("seed_demo")

    assert "DEMO_ADMIN_PASSWORD" in str(refused.value)
    assert not get_user_model().objects.filter(username="admin").exists()
    assert not Creditor.objects.filter(slug="demo").exists()  # nothing written at all


def test_seed_demo_refuses_a_weak_demo_admin_password_when_debug_is_off(monkeypatch, settings):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "admin")

    with pytest.raises(CommandError, match="DEMO_ADMIN_PASSWORD is not accepted") as refused:
        call_command("seed_demo")

    assert "at least 12 characters" in str(refused.value)
    assert not get_user_model().objects.filter(username="admin").exists()


def test_seed_demo_uses_a_strong_demo_admin_password_and_does_not_print_it(
    monkeypatch, settings, capsys
):
    settings.DEBUG = False
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "orchard-ledger-tally-51")

    call_command("seed_demo")

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("orchard-ledger-tally-51")
    assert "orchard-ledger-tally-51" not in capsys.readouterr().out
