"""Run every shipped case file (compliance/cases/*.jsonl) through packs.py and the engine.

No database: the cases are evaluated against the shipped JSON packs, the same rules that
``load_rule_packs`` seeds. ``compliance_check --cases`` runs the same files against the database.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from compliance import engine, packs

CASE_FILES = sorted(packs.CASES_DIR.glob("*.jsonl"))


def _all_cases() -> list[tuple[Path, int, packs.Case | packs.PackError]]:
    return [(path, n, item) for path in CASE_FILES for n, item in packs.cases_read(path)]


ALL_CASES = _all_cases()
GOOD_CASES = [
    pytest.param(item, id=item.id) for _, _, item in ALL_CASES if isinstance(item, packs.Case)
]


@pytest.mark.parametrize("case", GOOD_CASES)
def test_shipped_case_gets_its_expected_decision(case: packs.Case) -> None:
    line = packs.case_evaluate(case)
    assert case.expected is not None, "shipped cases state what they expect"
    assert line["decision"] == case.expected, line["reasons"]
    if line["decision"] == "block":
        assert line["reasons"], "a block always says why"
        for reason in line["reasons"]:
            assert reason["citation_text"] and reason["citation_url"]
    else:
        assert line["reasons"] == []
        assert line["next_allowed_at"] == case.local_dt.isoformat(timespec="minutes")


def test_every_case_line_parses() -> None:
    errors = [
        f"{path.name}:{n}: {item}" for path, n, item in ALL_CASES if isinstance(item, Exception)
    ]
    assert errors == []


def test_case_ids_are_unique_across_files() -> None:
    ids = [item.id for _, _, item in ALL_CASES if isinstance(item, packs.Case)]
    assert len(ids) == len(set(ids))


def test_every_shipped_region_has_a_cases_file_with_its_own_cases() -> None:
    regions = set(packs.packs_load())
    files = {path.stem for path in CASE_FILES}
    assert regions == files
    for path, _, item in ALL_CASES:
        assert isinstance(item, packs.Case) and item.region == path.stem, item


def test_every_region_has_both_allowed_and_blocked_cases() -> None:
    seen: dict[str, set[str]] = {}
    for _, _, item in ALL_CASES:
        assert isinstance(item, packs.Case)
        seen.setdefault(item.region, set()).add(item.expected or "")
    for region, outcomes in seen.items():
        assert {"allow", "block"} <= outcomes, region


def test_a_wrong_expectation_is_reported_as_a_failure() -> None:
    """The runner can fail: flipping an expectation must flip ``ok``."""
    case = next(item for _, _, item in ALL_CASES if isinstance(item, packs.Case))
    flipped = packs.Case(
        id=case.id,
        region=case.region,
        channel=case.channel,
        local_dt=case.local_dt,
        history=case.history,
        flags=case.flags,
        expected="allow" if case.expected == "block" else "block",
    )
    assert packs.case_evaluate(flipped)["ok"] is False


def test_malformed_lines_are_reported_with_their_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "ok", "region": "US", "channel": "sms", "local_time": "2026-03-11T10:00"}\n'
        "not json\n"
        "\n"
        '{"id": "bad", "region": "US", "channel": "pigeon", "local_time": "2026-03-11T10:00"}\n',
        encoding="utf-8",
    )
    parsed = packs.cases_read(path)
    assert [n for n, _ in parsed] == [1, 2, 4]
    assert isinstance(parsed[0][1], packs.Case)
    assert "line 2" in str(parsed[1][1])
    assert "line 4" in str(parsed[2][1]) and "channel" in str(parsed[2][1])


def test_a_bad_history_time_is_named_once() -> None:
    ((number, error),) = packs.cases_parse(
        '{"id": "n", "region": "US", "channel": "sms", "local_time": "2026-03-11T10:00",'
        ' "history": [{"channel": "sms", "local_time": "2026-03-09T10:00+02:00",'
        ' "outcome": "delivered"}]}'
    )
    assert number == 1 and isinstance(error, packs.PackError)
    assert str(error) == (
        "line 1: case n history[0]: local_time must be the debtor's wall clock, without offset"
    )


def test_a_child_pack_with_extra_dates_keeps_its_parents_country_calendar() -> None:
    shipped = packs.packs_load()
    child = packs.pack_from_dict(
        {
            "code": "US-TX",
            "parent": "US",
            "time_zone": "America/Chicago",
            "holidays": {"extra_dates": ["2026-03-02"]},
        }
    )
    is_holiday = packs.holiday_predicate("US-TX", {**shipped, "US-TX": child})
    assert is_holiday(date(2026, 3, 2))  # the child's own extra date
    assert is_holiday(date(2026, 7, 3))  # Independence Day (observed): the US calendar
    assert not is_holiday(date(2026, 3, 3))


@pytest.mark.parametrize("case", GOOD_CASES)
def test_allows_answers_what_evaluate_decides(case: packs.Case) -> None:
    """The planner filters its candidates with `allows`; it must agree with `evaluate`."""
    rules = packs.effective_rules(case.region)
    holidays = packs.holiday_predicate(case.region)
    args = (rules, case.channel, case.local_dt, case.history, case.flags, holidays)
    decision = engine.evaluate(*args, debt_id=case.debt_id)
    assert engine.allows(*args, debt_id=case.debt_id) is decision.allowed


def test_allows_agrees_with_evaluate_on_random_contacts_in_every_region() -> None:
    """Random times, histories, flags and debts against every shipped region's rules."""
    rng = random.Random(20261206)
    outcomes = sorted(engine.OUTCOMES)
    flags = sorted(engine.FLAGS)
    seen = {True: 0, False: 0}
    for region in sorted(packs.packs_load()):
        rules = packs.effective_rules(region)
        holidays = packs.holiday_predicate(region)
        for _ in range(150):
            at = datetime(2026, 1, 1) + timedelta(minutes=rng.randrange(0, 365 * 1440))
            history = [
                engine.Contact(
                    rng.choice(engine.CHANNELS),
                    at - timedelta(minutes=rng.randrange(1, 40 * 1440)),
                    rng.choice(outcomes),
                    rng.choice([None, 1, 2]),
                )
                for _ in range(rng.randrange(0, 8))
            ]
            args = (
                rules, rng.choice(engine.CHANNELS), at, history,
                frozenset(rng.sample(flags, rng.randrange(0, 3))), holidays,
            )  # fmt: skip
            debt = rng.choice([None, 1, 2])
            allowed = engine.evaluate(*args, debt_id=debt).allowed
            assert engine.allows(*args, debt_id=debt) is allowed, (region, args[1:])
            seen[allowed] += 1
    assert min(seen.values()) > 100, seen  # both answers exercised
