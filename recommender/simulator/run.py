"""One simulation: the real contact cycle run hour by simulated hour against the world.

`Simulation.run()` places debtors, publishes the variant library, then, hour by simulated
hour (the clock moved with time-machine), plans (daily), dispatches, lets the debtors react
and pay instalments, recomputes typologies and retrains (nightly), all through the real
services. `simulate()` is the entry point.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers
import time_machine
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models.signals import post_save
from django.test.utils import override_settings
from wagtail.signal_handlers import disable_reference_index_auto_update

from accounts import services as accounts_services
from accounts.models import (
    Account,
    AccountStatus,
    Creditor,
    Debtor,
    DomainError,
    Installment,
    InstallmentStatus,
    PlanStatus,
)
from accounts.regions import country_of
from accounts.selectors import instalment_next
from messaging import services as messaging
from messaging.models import EventKind, Message, MessageVariant, Tone
from recommender import features as F
from recommender import services
from recommender.models import Decision
from recommender.simulator import report
from recommender.simulator.backend import OUTBOX, SIMULATOR_SETTINGS
from recommender.simulator.world import (
    GENERAL_STAGES,
    LIB_CHANNELS,
    LIB_CTAS,
    LIB_TONES,
    PLAN_STAGES,
    REGIONS,
    World,
    bucket_of,
)

log = logging.getLogger("recommender.simulator")

SIMULATOR_RETRAIN: dict[str, Any] = {
    "reward_delay_days": 2,
    "min_rows": 1000,
    # The learner as production runs it (its defaults: k-fold prior search on small logs, 250
    # L-BFGS iterations). A lighter fit (no k-fold, 80 iterations) took 70% of the time but
    # closed less of the gap over six seeds, its priors swinging from night to night
    # (docs/benchmarks.md, "Closed loop"). At most 30,000 (the newest) decisions per fit.
    "learner": {},
    "max_rows": 30_000,
    # A new fit once the logs hold a fifth more decisions than the live model was fitted on,
    # as production's default (RECOMMENDER_RETRAIN_MIN_NEW_SHARE) but fixed here, so runs on
    # two machines compare.
    "min_new_share": 0.2,
    # The refit on every row starts in a second process while the candidate is fitted and
    # evaluated: the same models, the nightly cycle in about half the wall time on 2 cores.
    "parallel_refit": True,
}
"""The nightly retraining of a simulation: `services.RetrainOptions` fields over the
configured ones. A 2-day reward delay: simulated debtors act within hours of a message."""

_BACKENDS = [name for name in SIMULATOR_SETTINGS if name.endswith("_BACKEND")]

# A debtor's open and click: the event recorded, its key, its data, the outcome's flag.
_TRACKED = {
    "open": (EventKind.OPENED, "open:{}", None, "opened"),
    "click": (EventKind.CLICKED, "click:{}:0", {"link": 0}, "clicked"),
}


@dataclass
class MessageOutcome:
    day: int
    arm: str
    opened: bool = False
    clicked: bool = False
    converted: bool = False
    amount: float = 0.0


@dataclass
class SimulationConfig:
    debtors: int = 5000
    days: int = 60
    seed: int = 1
    start: datetime = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
    initial_share: float = 0.5
    placement_days: int = 21
    plan_hour_utc: int = 4
    retrain: bool = True
    png: Path | None = None
    export: Path | None = None
    progress: bool = True
    # Put where the run spent its wall-clock time in the summary (`runtime_seconds`,
    # `timings_seconds`, the models' `fit_seconds`): the only part that differs between two
    # runs of one seed, so off by default.
    timings: bool = False
    # The send-time arm's share of decisions (RECOMMENDER_SEND_TIME_SHARE for the run): the
    # policy with its send hour drawn at random; 0 leaves it off.
    send_time_share: float = 0.0
    # `services.RetrainOptions` fields the nightly retraining uses over the configured ones.
    retrain_options: dict[str, Any] = field(default_factory=lambda: dict(SIMULATOR_RETRAIN))


@contextmanager
def _admin_indexes_off() -> Iterator[None]:
    """Wagtail's search and reference indexes left alone (the admin's; the pipeline reads
    neither): updating them on every save took most of a run's setup."""
    from modelsearch import index
    from modelsearch.signal_handlers import post_save_signal_handler

    unhooked = [
        model
        for model in index.get_indexed_models()
        if post_save.disconnect(post_save_signal_handler, sender=model)
    ]
    try:
        with disable_reference_index_auto_update():
            yield
    finally:
        for model in unhooked:
            post_save.connect(post_save_signal_handler, sender=model)


def _phone(region: str, k: int) -> str:
    country = country_of(region)
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return ""
    national = str(example.national_number)
    tail = f"{k % 1000:03d}"
    candidate = f"+{example.country_code}{national[:-3]}{tail}"
    parsed = phonenumbers.parse(candidate)
    return candidate if phonenumbers.is_valid_number(parsed) else ""


class Simulation:
    """One run of the world. Build it, then `run()`; returns the JSON summary."""

    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        self.world = World(config.debtors, config.seed)
        self.rng = np.random.default_rng(config.seed + 2)
        self.debtor_index: dict[int, int] = {}  # debtor pk -> world index
        self.sends: dict[int, int] = defaultdict(int)  # world index -> messages sent
        self.outcomes: dict[int, MessageOutcome] = {}
        self.events: list[tuple[datetime, int, str, int]] = []  # heap (when, seq, kind, msg)
        self.seq = 0
        self.plan_of_message: dict[int, int] = {}  # account pk -> message that made its plan
        self.expected: list[dict[str, Any]] = []  # per decision: true values
        self.truth: dict[int, np.ndarray] = {}  # message id -> true value of every action
        self.models: list[dict[str, Any]] = []
        self.timings: dict[str, float] = defaultdict(float)
        self.creditor = None
        self._tz_cache: dict[int, str] = {}
        self.planning: dict[str, int] = defaultdict(int)

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> None:
        self.creditor = Creditor.objects.create(
            name="Simulated Utility", slug="sim", display_name="Simulated Utility",
            default_currency="EUR", max_plan_months=12,
        )  # fmt: skip
        self._library()

    def _library(self) -> None:
        tones = {}
        for i, name in enumerate(LIB_TONES):
            tones[name], _ = Tone.objects.get_or_create(
                slug=name, defaults={"name": name.title(), "sort_order": i}
            )
        texts = {
            "email_subject": "Your {{ creditor_name }} account",
            "email_body": "Hello {{ first_name }},\n\nYour balance is {{ balance }}. "
            "Sort it out here: {{ portal_link }}",
            "sms_text": "{{ first_name }}, your balance is {{ balance }}: {{ portal_link }}",
            "letter_body": "Dear {{ first_name }},\n\nYour balance is {{ balance }}. "
            "Visit {{ portal_link }}.",
        }
        specs = []
        for lang in ("en", "fr", "de"):
            for ch in LIB_CHANNELS:
                for tone in LIB_TONES:
                    for cta in LIB_CTAS:
                        specs.append((lang, ch, tone, cta, GENERAL_STAGES))
            for ch in ("email", "sms"):
                for tone in ("friendly", "firm"):
                    specs.append((lang, ch, tone, "pay_instalment", PLAN_STAGES))
        with _admin_indexes_off():
            for spec in specs:
                self._variant_publish(spec, tones=tones, texts=texts)

    def _variant_publish(self, spec: tuple, *, tones: dict, texts: dict[str, str]) -> None:
        """Save one variant and publish it through a Wagtail revision, as an editor would."""
        lang, ch, tone, cta, stages = spec
        v = MessageVariant(
            name=f"{lang} {ch} {tone} {cta}",
            channel=ch,
            language=lang,
            tone=tones[tone],
            cta=cta,
            stages=stages,
            regions=[],
            **texts,
        )
        v.full_clean()
        v.save()
        v.save_revision().publish()

    def _place(self, day: int, indices: list[int]) -> None:
        shares = np.array([r[3] for r in REGIONS])
        rows = []
        for i in indices:
            region, lang, tz, _ = REGIONS[int(self.rng.choice(len(REGIONS), p=shares))]
            amount = float(np.round(np.exp(self.rng.normal(5.5, 0.9)), 2)) + 20
            debtor = {
                "external_ref": f"SD-{i}",
                "first_name": "Sam",
                "last_name": f"Debtor{i}",
                "email": f"sim{i}@example.com",
                "phone": _phone(region, i),
                "address_line1": f"{i} High Street",
                "city": "Town",
                "postal_code": "12345",
                "region": region,
                "timezone": tz,
                "language": lang,
            }
            due = self.cfg.start.date() + timedelta(days=day - int(self.rng.integers(10, 90)))
            rows.append(
                {
                    "external_ref": f"SA-{i}",
                    "currency": "EUR",
                    "original_amount": f"{amount:.2f}",
                    "due_date": due.isoformat(),
                    "description": "Energy bill",
                    "debtor": debtor,
                }
            )
        for start in range(0, len(rows), 2000):
            result = accounts_services.placement_upsert(
                creditor=self.creditor, rows=rows[start : start + 2000], actor="simulator"
            )
            if result.rejected:
                log.warning("simulator: %d rows rejected: %s", len(result.rejected),
                            result.rejected[:2])  # fmt: skip
        refs = [f"SD-{i}" for i in indices]
        for pk, ref in Debtor.objects.filter(
            creditor=self.creditor, external_ref__in=refs
        ).values_list("pk", "external_ref"):
            self.debtor_index[pk] = int(ref[3:])

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        n_initial = int(cfg.debtors * cfg.initial_share)
        later = np.arange(n_initial, cfg.debtors)
        place_day = np.sort(self.rng.integers(1, max(2, cfg.placement_days), later.size))
        started = time.perf_counter()
        with time_machine.travel(cfg.start, tick=False) as clock:
            self.clock = clock
            self.setup()
            for day in range(cfg.days):
                day_start = cfg.start + timedelta(days=day)
                clock.move_to(day_start)
                if day == 0:
                    self._timed("place", self._place, 0, list(range(n_initial)))
                else:
                    todays = later[place_day == day].tolist()
                    if todays:
                        self._timed("place", self._place, day, todays)
                for hour in range(24):
                    now = day_start + timedelta(hours=hour)
                    clock.move_to(now)
                    if hour == 1 and day > 0:
                        self._nightly(day)
                    if hour == cfg.plan_hour_utc:
                        self._timed("plan", self._plan, day)
                    self._timed("dispatch", self._dispatch, day)
                    self._timed("react", self._react_until, now + timedelta(hours=1), day)
                    self._timed("instalments", self._instalments, now, hour)
                if cfg.progress:
                    log.warning(
                        "simulator day %d: %d messages, %.0fs", day, len(self.outcomes),
                        time.perf_counter() - started,
                    )  # fmt: skip
            clock.move_to(cfg.start + timedelta(days=cfg.days))
        self.seconds = time.perf_counter() - started
        return self.summary()

    def _timed(self, name: str, fn, *args) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.timings[name] += time.perf_counter() - t

    def _nightly(self, day: int) -> None:
        self._timed("typology", services.typology_refresh)
        if not self.cfg.retrain:
            return
        self.clock.move_to(self.cfg.start + timedelta(days=day, hours=2))
        options = services.RetrainOptions.from_settings(**self.cfg.retrain_options)
        t = time.perf_counter()
        try:
            model = services.model_retrain(actor="simulator", options=options)
        except services.RetrainSkipped as exc:
            log.info("simulator day %d: %s", day, exc)
            return
        finally:
            self.timings["retrain"] += time.perf_counter() - t
        services.policy_forget()  # the next plan reads which model is live now
        m = model.metrics
        entry = {
            "day": day,
            "label": model.label,
            "status": model.status,
            "rows": model.rows_used,
            "value": m.get("value"),
            # Read back from a JSON column: PostgreSQL's jsonb does not keep the key order.
            "vs_random": report.keys_sorted(m.get("vs_random")),
            "vs_live": report.keys_sorted(m.get("vs_live")),
            "holdout_log_loss": m.get("holdout_log_loss"),
        }
        if self.cfg.timings:
            entry["fit_seconds"] = m.get("fit_seconds")
        entry["choice"] = report.model_choice(model)
        self.models.append(entry)

    def _plan(self, day: int) -> None:
        result = services.plan_contacts(actor="simulator")
        for key in ("due", "planned", "blocked", "without_candidates", "existing"):
            self.planning[key] += getattr(result, key)
        new = (
            Decision.objects.filter(decided_at=datetime.now(UTC))
            .order_by("message_id")
            .values_list("message_id", "debtor_id", "arm", "action", "eligible")
        )
        rows = list(new)
        if not rows:
            return
        debtors = np.array([self.debtor_index[r[1]] for r in rows])
        sends = np.array([self.sends[i] for i in debtors])
        # Every action's true value for each decision (eligible or not), in one array.
        truth = self.world.conversion_probabilities(debtors, sends)
        masks = Decision.unpack_eligibles([r[4] for r in rows], F.N_ACTIONS)
        for (message_id, _debtor, arm, action, _), values_all, mask in zip(
            rows, truth, masks, strict=True
        ):
            values = values_all[mask]
            # Every eligible action's true value: the export's, and the offline learner's
            # score at the end of the run (`report.offline_learner`).
            row = np.full(F.N_ACTIONS, np.nan, dtype=np.float32)
            row[mask] = values
            self.truth[message_id] = row
            self.expected.append(
                {
                    "message_id": message_id,
                    "day": day,
                    "arm": arm,
                    "chosen": float(values_all[action]),
                    "uniform": float(values.mean()),
                    "best": float(values.max()),
                }
            )

    def _dispatch(self, day: int) -> None:
        OUTBOX.clear()
        messaging.dispatch_due()
        if not OUTBOX:
            return
        ids = [mid for mid, _ in OUTBOX]
        rows = (
            Message.objects.filter(pk__in=ids)
            .order_by("pk")
            .values_list(
                "pk", "debtor_id", "arm", "channel", "variant__tone__slug", "variant__cta",
                "sent_at",
            )
        )  # fmt: skip
        for pk, debtor_id, arm, channel, tone, cta, sent_at in rows:
            i = self.debtor_index.get(debtor_id)
            if i is None:
                continue
            self.outcomes[pk] = MessageOutcome(day=day, arm=arm)
            local = sent_at.astimezone(F.zone_of(self._tz(debtor_id)))
            bucket = bucket_of(local.hour)
            tone_f, cta_f = F.tone_family(tone), F.cta_family(cta)
            w, r = self.world, self.rng
            sends = self.sends[i]
            self.sends[i] += 1
            if r.random() >= w.p_open(i, channel, bucket, sends):
                continue
            opened = sent_at + timedelta(minutes=float(r.exponential(90)))
            self._push(opened, "open", pk)
            if r.random() >= w.p_click(i, tone_f, cta_f):
                continue
            clicked = opened + timedelta(minutes=float(r.exponential(10)) + 1)
            self._push(clicked, "click", pk)
            if r.random() >= w.p_convert(i, cta_f):
                continue
            self._push(clicked + timedelta(minutes=float(r.exponential(20)) + 2), "convert:" +
                       cta_f, pk)  # fmt: skip

    def _tz(self, debtor_id: int) -> str:
        tz = self._tz_cache.get(debtor_id)
        if tz is None:
            self._tz_cache.update(
                Debtor.objects.filter(creditor=self.creditor).values_list("pk", "timezone")
            )
            tz = self._tz_cache.get(debtor_id, "UTC")
        return tz

    def _push(self, when: datetime, kind: str, message_id: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, message_id))

    def _react_until(self, until: datetime, day: int) -> None:
        if self.events and self.events[0][0] < until:
            self._react(until)
        self.clock.move_to(until - timedelta(seconds=1))

    def _react(self, until: datetime) -> None:
        """The debtors' opens, clicks and conversions before `until`, in time order.

        Opens and clicks are recorded together (`messaging.events_record`), as a provider's
        batch would be, up to each conversion: attributing it reads the touches before it."""
        pending: list[messaging.EventIn] = []
        while self.events and self.events[0][0] < until:
            when, _, kind, message_id = heapq.heappop(self.events)
            outcome = self.outcomes[message_id]
            if kind in _TRACKED:
                event_kind, key, data, seen = _TRACKED[kind]
                pending.append(messaging.EventIn(
                    message_id, event_kind, key.format(message_id), "tracking", when, data
                ))  # fmt: skip
                setattr(outcome, seen, True)
            else:  # a conversion
                self._record(pending)
                self.clock.move_to(when)
                amount = self._convert(message_id, kind.split(":", 1)[1], when)
                if amount is not None:
                    outcome.converted = True
                    outcome.amount += amount
        self._record(pending)

    def _record(self, pending: list[messaging.EventIn]) -> None:
        """Record the pending opens and clicks at the time of the last of them."""
        if pending:
            self.clock.move_to(pending[-1].occurred_at)
            messaging.events_record(pending)
            pending.clear()

    def _convert(self, message_id: int, cta: str, when: datetime) -> float | None:
        """The debtor acts on a message: pays in full, part, or agrees a plan (portal-like)."""
        account = Account.objects.select_related("creditor", "debtor").get(messages__pk=message_id)
        if account.status not in (AccountStatus.ACTIVE, AccountStatus.IN_PLAN):
            return None
        i = self.debtor_index[account.debtor_id]
        able = self.world.able[i]
        try:
            if account.status == AccountStatus.IN_PLAN:
                amount = self._pay_instalment(account, when)
                kind, ref = "payment", f"inst-{message_id}"
            elif cta == "plan" or able < 0.35:
                count = 6 if able < 0.3 else 3
                plan = accounts_services.plan_create(
                    account=account, frequency="fortnightly", count=count,
                    first_due=when.date() + timedelta(days=3), actor="debtor",
                )  # fmt: skip
                self.plan_of_message[account.pk] = message_id
                amount, kind, ref = 0.0, "plan", f"plan-{plan.pk}"
            else:
                share = 1.0 if able > 0.5 or self.rng.random() < 0.5 else 0.5
                value = (account.current_balance * Decimal(str(share))).quantize(Decimal("0.01"))
                payment, _ = accounts_services.payment_record(
                    account=account, amount=value, idempotency_key=f"sim-{message_id}",
                    method="card", actor="debtor", provider="simulated",
                )  # fmt: skip
                amount, kind, ref = float(payment.amount), "payment", f"pay-{payment.pk}"
        except DomainError as exc:
            log.info("simulator: conversion refused: %s", exc)
            return None
        messaging.conversion_attribute(account=account, at=when, kind=kind, reference=ref)
        return amount

    def _pay_instalment(self, account: Any, when: datetime) -> float:
        inst = instalment_next(account_id=account.pk)
        if inst is None:
            return 0.0
        payment, _ = accounts_services.payment_record(
            account=account, amount=inst.amount_due, idempotency_key=f"sim-inst-{inst.pk}",
            method="card", actor="debtor", provider="simulated", received_at=when,
        )  # fmt: skip
        return float(payment.amount)

    def _instalments(self, now: datetime, hour: int) -> None:
        """At 18:00 UTC, debtors with an instalment due today pay it or not (organised)."""
        if hour != 18:
            return
        due = Installment.objects.filter(
            plan__status=PlanStatus.ACTIVE,
            due_date=now.date(),
            status__in=[InstallmentStatus.PENDING, InstallmentStatus.PARTIAL],
        ).select_related("plan__account", "plan__account__debtor", "plan__account__creditor")
        for inst in due.order_by("pk"):
            account = inst.plan.account
            i = self.debtor_index.get(account.debtor_id)
            if i is None:
                continue
            p = 0.35 + 0.55 * self.world.organised[i] * (0.5 + 0.5 * self.world.able[i])
            if self.rng.random() >= p:
                continue
            try:
                payment, _ = accounts_services.payment_record(
                    account=account, amount=inst.amount_due,
                    idempotency_key=f"sim-inst-{inst.pk}", method="direct_debit",
                    actor="debtor", provider="simulated",
                )  # fmt: skip
            except DomainError:
                continue
            origin = self.plan_of_message.get(account.pk)
            if origin in self.outcomes:
                self.outcomes[origin].amount += float(payment.amount)

    # -- the summary -------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The JSON summary (`report.summarise`): per arm and week, true values, models."""
        return report.summarise(self)


def simulate(config: SimulationConfig) -> dict[str, Any]:
    """Run one simulation in the current database (use a throwaway one) and summarise it.

    Every channel must go to `SimulatedBackend` (`SIMULATOR_SETTINGS` in effect): refused
    otherwise, so a simulation never hands a message to a real channel.
    """
    wrong = [name for name in _BACKENDS if getattr(settings, name, "") != SIMULATOR_SETTINGS[name]]
    if wrong:
        raise ImproperlyConfigured(
            f"The simulator needs SIMULATOR_SETTINGS in effect; {', '.join(wrong)} would "
            "hand messages to a real channel (run it through manage.py simulate)."
        )
    services.policy_forget()
    # The run's send-time arm (`config.send_time_share`), whatever the settings say; the
    # planner's arm and variant draws seeded from the run's seed (docs/simulator.md,
    # "Reproducibility").
    # DEBUG off: with it on, Django keeps a copy of every query's SQL, which cost a tenth
    # of a run.
    with override_settings(
        RECOMMENDER_SEND_TIME_SHARE=config.send_time_share,
        RECOMMENDER_RANDOM_SEED=config.seed,
        DEBUG=False,
    ):
        return Simulation(config).run()
