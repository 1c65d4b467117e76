"""The cockpit's Recommender page: the policy against the random control, its uplift only
once the sample can tell it from chance, the arms' shares, the models and typologies."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from accounts.tests.factories import staff_client
from collections_site.operations.models import EngagementDay, TypologyDay
from collections_site.operations.rollups import rollups_refresh
from recommender.tests import conftest as recommender_fixtures
from recommender.tests.conftest import place_accounts, record_event, send_and_dispatch, utc
from recommender.tests.test_report import _decision_for

pytestmark = pytest.mark.django_db

_fresh_caches = recommender_fixtures._fresh_caches
library = recommender_fixtures.library
sim_backends = recommender_fixtures.sim_backends
clock = recommender_fixtures.clock

URL = "/admin/operations/recommender/"
NOW = utc(2026, 3, 10, 14, 0)


def _query(day: date) -> dict[str, str]:
    return {"start": (day - timedelta(days=6)).isoformat(), "end": day.isoformat()}


def test_with_a_few_sends_the_page_says_how_much_more_data_it_needs(
    creditor, library, sim_backends, clock
):
    clock.move_to(NOW)
    email = next(v for v in library if v.channel == "email" and "early" in v.stages)
    for k, account in enumerate(place_accounts(creditor, 6)):
        m = send_and_dispatch(
            account, email, at=NOW + timedelta(minutes=k), arm="policy" if k < 4 else "control"
        )
        _decision_for(m)
        if k in (0, 4):
            record_event(m, "converted", NOW + timedelta(hours=1))
    rollups_refresh()
    page = staff_client(creditor).get(URL, _query(NOW.date()))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Not enough data yet" in html
    assert "more conversions in the control arm" in html
    # No uplift figure is printed, even though 1/4 against 1/2 would make one.
    assert "-50%" not in html
    assert "1 / 4" in html and "1 / 2" in html
    # The arms' rate points link to the converted messages of that arm.
    assert "arm=control" in html and "reached=converted" in html


def _arms(creditor, variant, day: date, policy: tuple[int, int], control: tuple[int, int]):
    """A day's counts as the rollup holds them (the rollup itself is tested elsewhere)."""
    for arm, (sent, converted) in (("policy", policy), ("control", control)):
        EngagementDay.objects.create(
            day=day, creditor=creditor, region="US-MA", channel="email", variant=variant,
            stage="early", arm=arm, sent=sent, delivered=sent, converted=converted,
        )  # fmt: skip
        TypologyDay.objects.create(
            day=day, creditor=creditor, region="US-MA", channel="email", arm=arm,
            typology="WAOR" if arm == "policy" else "", sent=sent, converted=converted,
        )  # fmt: skip


def test_with_enough_sends_the_uplift_is_shown_with_its_interval(
    creditor, other_creditor, library, clock
):
    clock.move_to(NOW)
    variant = library[0]
    day = NOW.date()
    # 80,000 policy sends at 6% against 8,000 control sends at 4%: +50%.
    _arms(creditor, variant, day - timedelta(days=1), (40_000, 2_400), (4_000, 160))
    _arms(creditor, variant, day, (40_000, 2_400), (4_000, 160))
    page = staff_client(creditor).get(URL, _query(day)).content.decode()
    assert "Not enough data yet" not in page
    assert 'data-figure="uplift"' in page
    assert "+50%" in page
    assert "<polygon" in page  # the band
    assert "WAOR" in page  # conversion by typology
    assert "4,800 / 80,000" in page  # cumulative, policy arm, in the table
    # Another creditor's staff see none of it.
    theirs = staff_client(other_creditor).get(URL, _query(day)).content.decode()
    assert "+50%" not in theirs and "80,000" not in theirs
    assert "Not enough data yet" in theirs


def test_before_any_model_the_models_panel_says_when_the_first_will_be_fitted(settings):
    settings.RECOMMENDER_MIN_TRAIN_ROWS = 1200
    settings.RECOMMENDER_REWARD_DELAY_DAYS = 3.5
    page = staff_client(agency=True).get(URL).content.decode()
    assert (
        "No model has been trained yet: the nightly retraining fits the first one once at "
        "least 1,200 decisions are older than the 3.5-day attribution window" in page
    )
    assert "Power of the promotion test" not in page  # no table of nothing


def test_the_models_table_lists_the_live_model_with_its_off_policy_values(
    creditor, other_creditor, library, clock
):
    from recommender.tests.test_models import train_and_promote

    model = train_and_promote(creditor, clock)
    page = staff_client(agency=True).get(URL).content.decode()
    assert model.label in page
    assert "Live" in page
    assert "Versus random" in page
    assert f">{model.rows_used:,}</td>" in page
    assert "No model has been trained yet" not in page
    # The models are fitted on every creditor's decisions: a creditor's staff, whose own
    # figures they are not, get a note instead of their values and row counts.
    for client in (staff_client(creditor), staff_client(other_creditor)):
        theirs = client.get(URL).content.decode()
        assert "fitted on every creditor&#x27;s decisions, so only the agency" in theirs
        assert "Versus random" not in theirs and "Decisions fitted" not in theirs


def test_the_models_table_states_the_power_of_each_promotion_test(creditor, library, clock):
    from recommender.evaluation import promotion_power_text
    from recommender.tests.test_models import logged_decisions, retrain, train_and_promote

    train_and_promote(creditor, clock)
    logged_decisions(creditor, clock, n=120, start=200, convert=lambda m: m.channel == "email")
    second = retrain(clock)
    test = second.metrics["vs_live"]["test"]
    power = promotion_power_text(second.metrics)
    # Planning's draws are not seeded here: now and then the two fits choose alike on every
    # held-out row, and the table then says the test had no power rather than a figure.
    if test["se"] == 0:
        assert power.startswith("none: the models chose alike")
    else:
        assert power.endswith(f"80% at {test['detectable_drop']:.4f}")
    page = staff_client(agency=True).get(URL).content.decode()
    assert "Power of the promotion test" in page
    assert power in page


def test_the_admin_home_page_leads_with_the_cockpits_headline(
    creditor, other_creditor, library, clock
):
    clock.move_to(NOW)
    day = NOW.date()
    _arms(creditor, library[0], day - timedelta(days=1), (40_000, 2_400), (4_000, 160))
    _arms(creditor, library[0], day, (40_000, 2_400), (4_000, 160))
    home = staff_client(creditor).get("/admin/").content.decode()
    assert "Sent in the last 7 days" in home
    assert ">88,000</a>" in home
    assert ">+50%</a>" in home
    assert 'href="/admin/operations/recommender/"' in home
    theirs = staff_client(other_creditor).get("/admin/").content.decode()
    assert ">0</a>" in theirs and "88,000" not in theirs
    assert "Not enough data yet" in theirs


def test_the_arms_lines_and_table_stop_at_the_last_day_with_sends(creditor, library, clock):
    """A cumulative figure after the last day with sends only repeats itself (as while a demo
    history is still in the past): no points and no table rows are drawn after it."""
    clock.move_to(NOW)
    day = NOW.date()
    last = day - timedelta(days=4)
    _arms(creditor, library[0], last - timedelta(days=1), (400, 24), (40, 2))
    _arms(creditor, library[0], last, (400, 24), (40, 2))
    page = staff_client(creditor).get(URL, _query(day)).content.decode()

    def rate_point(d: date) -> bool:  # a point of the policy's rate line, by its tooltip
        return re.search(rf"Policy, {d:%m-%d}: [0-9.]+% \[", page) is not None

    assert rate_point(last)
    for later in range(1, 5):
        assert not rate_point(last + timedelta(days=later))
        assert f"<td>{(last + timedelta(days=later)).isoformat()}</td>" not in page
    # Every chart's title is shown above it, and names its drawing.
    assert '<figcaption id="ops-chart-' in page
    assert "Cumulative conversion rate per arm, with 95% bands</figcaption>" in page


def test_a_typology_seen_once_shows_its_rate_with_a_whisker_as_wide_as_its_interval(
    creditor, library, clock
):
    clock.move_to(NOW)
    day = NOW.date()
    TypologyDay.objects.create(
        day=day, creditor=creditor, region="US-MA", channel="email", arm="policy",
        typology="", sent=1, converted=1,
    )  # fmt: skip
    TypologyDay.objects.create(
        day=day, creditor=creditor, region="US-MA", channel="email", arm="policy",
        typology="WAOR", sent=2_000, converted=100,
    )  # fmt: skip
    page = staff_client(creditor).get(URL, _query(day)).content.decode()
    chart = page[page.index("Conversion rate by debtor typology") :]
    chart = chart[: chart.index("</figure>")]
    # 1 of 1 is 100% [21%, 100%]; 100 of 2,000 is 5.0% [4.1%, 6.0%]: each bar carries its
    # interval, in the tooltip and as a whisker.
    assert "not computed: 100% [21%, 100%]" in chart
    assert "WAOR: 5.0% [4.1%, 6.0%]" in chart
    whiskers = re.findall(r'class="ops-whisker" d="M([\d.]+) ([\d.]+)V([\d.]+)', chart)
    assert len(whiskers) == 2
    lengths = sorted(float(low) - float(high) for _x, low, high in whiskers)
    assert lengths[1] > 20 * lengths[0]  # the single message's interval is the long one
