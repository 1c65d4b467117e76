"""Benchmark: compliance engine decisions per second on one core (no database).

The planner checks every candidate of every account due a contact, so the engine must reach
>= 50,000 decisions/s on one core for a debtor with 10 past contacts across channels. Run:

    .venv/bin/python bench/compliance_engine.py [--iterations N]

It prints decisions/s and microseconds per decision for allowed, blocked and mixed workloads
(blocked decisions also compute ``next_allowed_at``), for a few regions.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compliance.engine import Contact, EffectiveRules, evaluate
from compliance.packs import effective_rules, holiday_predicate

HISTORY = (
    Contact("letter", datetime(2026, 2, 20, 9, 0), "delivered"),
    Contact("email", datetime(2026, 2, 24, 10, 0), "delivered"),
    Contact("call", datetime(2026, 2, 26, 11, 0), "no_answer"),
    Contact("sms", datetime(2026, 2, 28, 12, 0), "delivered"),
    Contact("call", datetime(2026, 3, 2, 9, 30), "busy"),
    Contact("email", datetime(2026, 3, 3, 10, 0), "delivered"),
    Contact("whatsapp", datetime(2026, 3, 4, 18, 0), "delivered"),
    Contact("call", datetime(2026, 3, 5, 14, 0), "voicemail"),
    Contact("sms", datetime(2026, 3, 6, 16, 0), "failed"),
    Contact("email", datetime(2026, 3, 7, 10, 0), "delivered"),
)
"""Ten past contacts across every channel and outcome kind."""


def _run(label: str, fn: Callable[[], object], iterations: int, per_call: int = 1) -> float:
    """Time ``iterations`` calls of ``fn`` (each making ``per_call`` decisions); print the rate."""
    for _ in range(200):  # warm up caches
        fn()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    rate = iterations * per_call / elapsed
    print(f"{label:<52} {rate:>10,.0f} decisions/s  {1e6 / rate:6.2f} us/decision")
    return rate


ASKS: tuple[tuple[str, datetime], ...] = (
    ("email", datetime(2026, 3, 9, 10, 0)),
    ("call", datetime(2026, 3, 9, 11, 0)),
    ("sms", datetime(2026, 3, 9, 12, 0)),
    ("letter", datetime(2026, 3, 9, 9, 0)),
    ("email", datetime(2026, 3, 9, 22, 30)),  # after hours everywhere
)
"""The questions asked per region: a Monday across channels, one after hours."""


def _bench_region(region: str, iterations: int) -> list[float]:
    """Rates for each question in ``ASKS`` and for all of them mixed, in one region."""
    rules: EffectiveRules = effective_rules(region)
    holidays = holiday_predicate(region)
    holidays(date(2026, 3, 9))  # load the year's calendar outside the timing
    flags: frozenset[str] = frozenset()

    def one(channel: str, when: datetime) -> Callable[[], object]:
        return lambda: evaluate(rules, channel, when, HISTORY, flags, holidays)

    def mixed() -> None:
        for channel, when in ASKS:
            evaluate(rules, channel, when, HISTORY, flags, holidays)

    rates = []
    for channel, when in ASKS:
        allowed = evaluate(rules, channel, when, HISTORY, flags, holidays).allowed
        label = f"{region} {channel} {when:%a %H:%M} -> {'allow' if allowed else 'block'}"
        rates.append(_run(label, one(channel, when), iterations))
    rates.append(_run(f"{region} mixed (the 5 above in turn)", mixed, iterations // 5, 5))
    return rates


def main() -> None:
    """Time the engine on representative questions and print the figures."""
    parser = argparse.ArgumentParser(description="Compliance engine decisions per second.")
    parser.add_argument("--iterations", type=int, default=50_000)
    n = parser.parse_args().iterations
    print(f"python {sys.version.split()[0]}, {n:,} decisions per line, 10 past contacts")
    rates: list[float] = []
    for region in ("US-MA", "US-NY-NYC", "CA-ON", "AU", "IE", "DE"):
        rates += _bench_region(region, n)
    rates.sort()
    print(f"slowest line: {rates[0]:,.0f} decisions/s; median: {rates[len(rates) // 2]:,.0f}")
    print("requirement: >= 50,000 decisions/s on one core")


if __name__ == "__main__":
    main()
