"""Rates with their 95% (Wilson) interval, and the headline figures at the top of a page."""

from __future__ import annotations

from dataclasses import dataclass

from collections_site.operations.cockpit import charts
from recommender.evaluation import wilson


def rate_text(successes: int, trials: int) -> str:
    """ "25% [4.6%, 70%]", or "-" without trials."""
    r = wilson(successes, trials)
    if r.rate is None:
        return "-"
    return f"{charts.percent(r.rate)} [{charts.percent(r.lower)}, {charts.percent(r.upper)}]"


@dataclass(frozen=True)
class Headline:
    """One figure at the top of a page: its label, the value, a note under it, and the
    page listing the rows it counts."""

    label: str
    value: str
    note: str = ""
    url: str = ""


def headline(label: str, value: str, note: str = "", url: str = "") -> Headline:
    return Headline(str(label), value, note, url)
