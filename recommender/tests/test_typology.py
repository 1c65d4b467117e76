"""Debtor typology: the pure scoring, the batch refresh through real services, the debtor page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from recommender.tests.conftest import place_accounts, record_event, send_and_dispatch, utc
from recommender.typology import TypologyInputs, describe, typology_score


def test_no_evidence_means_neutral_scores_and_no_confidence():
    t = typology_score(TypologyInputs())
    assert (t.willing, t.able, t.organised, t.emotional) == (0.0, 0.0, 0.0, 0.0)
    assert t.confidence == 0.0 and t.code == "WAOE"


def test_a_prompt_full_payer_is_willing_able_and_organised():
    t = typology_score(
        TypologyInputs(sends=3, opens=3, clicks=2, payments=1, amount_paid=100.0,
                       original_total=100.0, balance_total=0.0)
    )  # fmt: skip
    assert t.willing > 0.5 and t.able > 0.5 and t.organised > 0
    assert t.code.startswith("WAO") and t.confidence > 0.5


def test_a_silent_disputer_is_defiant():
    t = typology_score(TypologyInputs(sends=8, disputes=1, original_total=500, balance_total=500))
    assert t.willing < -0.5 and t.code[0] == "D"


def test_partial_payments_pauses_and_insolvency_read_as_unable():
    t = typology_score(
        TypologyInputs(payments=2, amount_paid=20, original_total=2000, balance_total=1980,
                       instalments_due=4, instalments_partial=3, pauses=1, flags=["bankruptcy"])
    )  # fmt: skip
    assert t.able < -0.5 and t.code[1] == "I"


def test_missed_instalments_read_as_chaotic():
    t = typology_score(
        TypologyInputs(instalments_due=4, instalments_on_time=1, instalments_missed=3)
    )
    assert t.organised < -0.5 and t.code[2] == "C"


def test_answering_warm_messages_over_formal_ones_reads_as_emotional():
    warm = typology_score(
        TypologyInputs(sends=20, soft_sends=10, soft_clicks=5, hard_sends=10, hard_clicks=0)
    )
    cold = typology_score(
        TypologyInputs(sends=20, soft_sends=10, soft_clicks=0, hard_sends=10, hard_clicks=5)
    )
    assert warm.emotional > 0.3 > -0.3 > cold.emotional
    assert warm.code[3] == "E" and cold.code[3] == "R"
    assert describe("DICR") == "defiant, insolvent, chaotic, rational"


def _two_debtors(creditor, library, clock):
    """Two placed accounts, the clock at 10 March 2026 14:00 UTC, and a first-contact email."""
    first, second = place_accounts(creditor, 2)
    now = utc(2026, 3, 10, 14, 0)
    clock.move_to(now)
    email = next(v for v in library if v.channel == "email" and "early" in v.stages)
    return first, second, now, email


@pytest.mark.django_db
def test_refresh_scores_debtors_from_their_history_and_is_an_upsert(
    creditor, library, sim_backends, clock
):
    from accounts import services as accounts_services
    from recommender import services
    from recommender.models import DebtorTypology

    payer, silent, now, email = _two_debtors(creditor, library, clock)
    for k, account in enumerate((payer, silent)):
        m = send_and_dispatch(account, email, at=now + timedelta(minutes=k))
        if account is payer:
            record_event(m, "clicked", now + timedelta(hours=1))
    accounts_services.payment_record(
        account=payer, amount="120.50", idempotency_key="full", method="card", actor="debtor"
    )
    assert services.typology_refresh() == 1  # the payer's account is closed (paid)
    assert services.typology_refresh(debtor_ids=[payer.debtor_id, silent.debtor_id]) == 2
    assert services.typology_refresh(debtor_ids=[payer.debtor_id, silent.debtor_id]) == 2
    assert DebtorTypology.objects.count() == 2
    p = DebtorTypology.objects.get(debtor=payer.debtor)
    s = DebtorTypology.objects.get(debtor=silent.debtor)
    assert p.willing > s.willing and p.able > s.able
    assert p.code[:2] == "WA" and p.evidence["payments"] == 1


@pytest.mark.django_db
def test_refresh_rewrites_only_the_typologies_whose_evidence_changed(
    creditor, library, sim_backends, clock
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recommender import services
    from recommender.models import DebtorTypology

    quiet, active, now, email = _two_debtors(creditor, library, clock)
    assert services.typology_refresh() == 2
    first = dict(DebtorTypology.objects.values_list("debtor_id", "updated_at"))
    assert first == {quiet.debtor_id: now, active.debtor_id: now}
    clock.move_to(now + timedelta(days=1))
    with CaptureQueriesContext(connection) as queries:
        assert services.typology_refresh() == 2  # both recomputed, neither changed
    assert not [q for q in queries if q["sql"].startswith("INSERT")]
    assert dict(DebtorTypology.objects.values_list("debtor_id", "updated_at")) == first
    m = send_and_dispatch(active, email, at=now + timedelta(days=1, minutes=5))
    record_event(m, "clicked", now + timedelta(days=1, hours=1))
    later = now + timedelta(days=2)
    clock.move_to(later)
    assert services.typology_refresh() == 2
    after = {t.debtor_id: t for t in DebtorTypology.objects.all()}
    assert after[quiet.debtor_id].updated_at == now
    assert after[active.debtor_id].updated_at == later
    assert after[active.debtor_id].evidence["clicks"] == 1
    # Recomputed from scratch, the stored row is what a first refresh writes.
    DebtorTypology.objects.filter(debtor_id=active.debtor_id).delete()
    services.typology_refresh(debtor_ids=[active.debtor_id])
    again = DebtorTypology.objects.get(debtor_id=active.debtor_id)
    fields = ("willing", "able", "organised", "emotional", "confidence", "code", "evidence")
    assert [getattr(again, f) for f in fields] == [
        getattr(after[active.debtor_id], f) for f in fields
    ]


@pytest.mark.django_db
def test_typology_refresh_task_and_the_planner_feature(creditor, library, clock):
    from recommender import features as F
    from recommender import tasks
    from recommender.models import DebtorTypology

    (account,) = place_accounts(creditor, 1)
    from accounts import services as accounts_services

    accounts_services.plan_create(
        account=account, frequency="weekly", count=2, first_due=date(2026, 3, 11), actor="test"
    )
    clock.shift(timedelta(days=10))  # both instalments missed
    assert tasks.typology_refresh_task() == 1
    t = DebtorTypology.objects.get(debtor_id=account.debtor_id)
    assert t.code[2] == "C"
    account.refresh_from_db()
    (x,) = F.contexts_build(accounts=[account], stages={account.pk: "missed_instalment"})
    assert x[F.CONTEXT_FEATURES.index("typology_organised")] == pytest.approx(t.organised)
    assert x[F.CONTEXT_FEATURES.index("log_missed_instalments")] > 0


@pytest.mark.django_db
def test_the_debtor_admin_page_shows_typology_and_decisions(
    creditor, library, clock, admin_client, settings
):
    from recommender import services

    settings.RECOMMENDER_CONTROL_SHARE = 0.0  # the policy arm, whose "why" names the model
    (account,) = place_accounts(creditor, 1)
    services.typology_refresh()
    services.plan_contacts()
    page = admin_client.get(f"/django-admin/accounts/debtor/{account.debtor_id}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Behavioural typology" in body and "willing, able, organised, emotional" in body
    assert "Recommender decisions" in body and "No live model yet" in body


def test_the_evidence_is_every_field_with_a_value_but_the_flags_in_field_order():
    inputs = TypologyInputs(sends=4, clicks=1, amount_paid=12.5, preferences_set=True,
                            flags=["vulnerable"])  # fmt: skip
    evidence = typology_score(inputs).evidence
    assert list(evidence.items()) == [
        ("sends", 4), ("clicks", 1), ("amount_paid", 12.5), ("preferences_set", True),
    ]  # fmt: skip
    inputs.sends = 5  # the stored evidence is the score's, not a view of the inputs
    assert evidence["sends"] == 4
