"""Context and action features: the stable action space, batch queries, send times."""

from __future__ import annotations

from datetime import time, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommender import features as F
from recommender.tests.conftest import place_accounts, record_event, send_and_dispatch, utc


def test_action_space_is_a_fixed_grid_with_letters_only_in_the_morning():
    assert F.N_ACTIONS == 5 * 5 * 13
    assert all(a.bucket == 0 for a in F.ACTIONS if a.channel == "letter")
    assert len(set(F.ACTIONS)) == F.N_ACTIONS
    feats = F.action_features()
    assert feats.shape == (F.N_ACTIONS, len(F.ACTION_FEATURE_NAMES))
    # tone, cta, channel, hour, channel x hour, tone x channel: six ones per action
    assert np.all(feats.sum(axis=1) == 6)
    assert len({tuple(row) for row in feats}) == F.N_ACTIONS  # every action is distinguishable


def test_variants_map_to_archetypes_by_tone_and_cta_family():
    a = F.action_index(tone="Empathetic", cta="request_callback", channel="sms", bucket=3)
    assert F.ACTIONS[a].as_dict() == {
        "tone": "empathetic", "cta": "talk", "channel": "sms", "hour_bucket": "evening",
    }  # fmt: skip
    # a tone an admin added, and an unknown CTA, fall into "other" rather than failing
    b = F.action_index(tone="playful", cta="something_new", channel="email", bucket=0)
    assert F.ACTIONS[b].tone == "other" and F.ACTIONS[b].cta == "other"


def test_bucket_send_time_respects_the_bucket_and_the_debtors_preferred_hours():
    now = utc(2026, 3, 10, 13, 0)  # 09:00 in Boston
    at = F.bucket_send_time(bucket=3, timezone_name="America/New_York", now=now)
    assert at == utc(2026, 3, 10, 21, 0)  # 17:00 local, today
    morning = F.bucket_send_time(bucket=0, timezone_name="America/New_York", now=now)
    assert morning == utc(2026, 3, 10, 13, 5)  # inside the bucket already: now + lead
    late = F.bucket_send_time(
        bucket=3, timezone_name="America/New_York", now=now, preferred=(time(19, 30), time(22))
    )
    assert late == utc(2026, 3, 10, 23, 30)
    assert (
        F.bucket_send_time(
            bucket=0, timezone_name="America/New_York", now=now, preferred=(time(18), time(20))
        )
        is None
    )
    tomorrow = F.bucket_send_time(bucket=0, timezone_name="Europe/Paris", now=now)
    assert tomorrow == utc(2026, 3, 11, 7, 0) and tomorrow - now <= timedelta(hours=24)


@pytest.mark.django_db
def test_context_counts_sends_opens_clicks_per_channel_and_payments(
    creditor, library, sim_backends, clock
):
    from accounts import services as accounts_services

    account, other = place_accounts(creditor, 2)
    now = utc(2026, 3, 10, 14, 0)
    email = next(v for v in library if v.channel == "email" and "early" in v.stages)
    sms = next(v for v in library if v.channel == "sms")
    clock.move_to(now)
    m1 = send_and_dispatch(account, email, at=now)
    clock.move_to(now + timedelta(days=1))
    m2 = send_and_dispatch(account, sms, at=now + timedelta(days=1))
    record_event(m1, "opened", now + timedelta(hours=2))
    record_event(m2, "clicked", now + timedelta(days=1, hours=1))
    accounts_services.payment_record(
        account=account, amount="20.50", idempotency_key="k1", method="card", actor="test"
    )
    clock.move_to(now + timedelta(days=2))
    account.refresh_from_db()
    X = F.contexts_build(
        accounts=[account, other], stages={account.pk: "early", other.pk: "first_contact"}
    )
    x = dict(zip(F.CONTEXT_FEATURES, X[0], strict=True))
    y = dict(zip(F.CONTEXT_FEATURES, X[1], strict=True))
    assert x["log_sends_email"] == pytest.approx(np.log1p(1))
    assert x["log_opens_email"] == pytest.approx(np.log1p(1))
    assert x["log_clicks_sms"] == pytest.approx(np.log1p(1))
    assert x["log_opens_sms"] == pytest.approx(np.log1p(1))  # a click implies an open
    assert x["log_clicks_email"] == 0
    assert x["log_payments"] == pytest.approx(np.log1p(1))
    assert x["never_paid"] == 0 and y["never_paid"] == 1
    assert x["stage=early"] == 1 and y["stage=first_contact"] == 1
    assert x["log_balance"] == pytest.approx(np.log1p(100.0))
    assert x["region=US"] == 1 and x["language=en"] == 1
    assert y["never_sent"] == 1 and x["never_sent"] == 0


@pytest.mark.django_db
def test_contexts_of_a_batch_take_a_constant_number_of_queries(creditor, library):
    accounts = place_accounts(creditor, 12)
    for a in accounts:
        a.debtor  # noqa: B018 - loaded by the planner's select_related
    stages = {a.pk: "early" for a in accounts}
    with CaptureQueriesContext(connection) as small:
        F.contexts_build(accounts=accounts[:2], stages=stages)
    with CaptureQueriesContext(connection) as large:
        X = F.contexts_build(accounts=accounts, stages=stages)
    assert len(large.captured_queries) == len(small.captured_queries) <= 7
    assert X.shape == (12, F.N_FEATURES) and np.isfinite(X).all()
