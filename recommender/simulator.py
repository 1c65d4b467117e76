"""A simulated world of debtors that runs the real contact cycle day by day.

`simulate(...)` places debtors through `accounts.services.placement_upsert`, publishes a
variant library through Wagtail revisions, and then, hour by simulated hour (the clock is
moved with time-machine): runs `recommender.services.plan_contacts` (daily), messaging's
`dispatch_due` (hourly; compliance re-checks every message), hands messages to
`SimulatedBackend` (configured as every channel's backend by dotted path, as messaging
allows), lets the simulated debtors open, click and pay (`messaging.services.event_record`,
`accounts.services.payment_record` / `plan_create`, then `conversion_attribute`, as the
portal does), recomputes typologies and retrains nightly (`typology_refresh`,
`model_retrain`). Nothing of the pipeline is re-implemented here: only the debtors are fake.

The world's assumptions (hidden traits and response model) are documented in
docs/simulator.md; `World.conversion_probability` is the ground truth the summary uses for
the policy's true expected value, the uniform-random value and the best achievable one.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from recommender import features as F

log = logging.getLogger(__name__)

# --- the channel backend --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Receipt:
    """What messaging reads back from a backend's `send` (provider, provider id)."""

    provider: str
    provider_id: str


OUTBOX: list[tuple[int, str]] = []
"""(message id, channel) of every message handed to the simulated backend, in order."""


class SimulatedBackend:
    """A channel backend for the simulator: takes every message and remembers its id.

    Follows messaging's backend interface (`name`, `idempotent`, `open`, `close`, `send`,
    `reconcile`) by duck typing, so nothing outside messaging imports messaging's backends.
    Configure with MESSAGING_{EMAIL_CHANNEL,SMS,WHATSAPP,LETTER}_BACKEND =
    "recommender.simulator.SimulatedBackend".
    """

    name = "simulated"
    idempotent = True

    def __init__(self, *, channel: str) -> None:
        self.channel = channel

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, outbound: Any) -> Receipt:
        OUTBOX.append((outbound.message_id, self.channel))
        return Receipt(self.name, f"sim-{outbound.message_id}")

    def reconcile(self, outbound: Any) -> Receipt | None:
        return Receipt(self.name, f"sim-{outbound.message_id}")


# --- the world ------------------------------------------------------------------------------

REGIONS: tuple[tuple[str, str, str, float], ...] = (
    # region, language, time zone, share
    ("US-MA", "en", "America/New_York", 0.30),
    ("US-CA", "en", "America/Los_Angeles", 0.10),
    ("GB", "en", "Europe/London", 0.20),
    ("FR", "fr", "Europe/Paris", 0.15),
    ("DE", "de", "Europe/Berlin", 0.15),
    ("CA-ON", "en", "America/Toronto", 0.10),
)
LIB_TONES = ("friendly", "empathetic", "formal", "firm")
LIB_CTAS = ("pay_in_full", "payment_plan", "contact_us")
LIB_CHANNELS = ("email", "sms", "letter")
GENERAL_STAGES = ["first_contact", "early", "mid", "late"]
PLAN_STAGES = ["plan_reminder", "missed_instalment", "pause_ending"]

CHANNEL_OPEN = {"email": -0.6, "sms": 0.7, "whatsapp": 0.8, "letter": 0.3}
TONE_EMOTIONAL = {"friendly": 0.5, "empathetic": 1.1, "formal": -0.5, "firm": -1.0, "other": 0.0}
TONE_RATIONAL = {"friendly": 0.0, "empathetic": -0.4, "formal": 0.5, "firm": 0.3, "other": 0.0}


def _sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class World:
    """Hidden traits of `n` debtors and how they respond (see docs/simulator.md)."""

    n: int
    seed: int
    willing: np.ndarray = field(init=False)
    able: np.ndarray = field(init=False)
    organised: np.ndarray = field(init=False)
    emotional: np.ndarray = field(init=False)
    channel_affinity: np.ndarray = field(init=False)  # (n, 4) in F.CHANNELS order
    peak_bucket: np.ndarray = field(init=False)
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        r = np.random.default_rng(self.seed)
        self.rng = np.random.default_rng(self.seed + 1)
        self.willing = r.beta(2, 2, self.n)
        self.able = r.beta(2, 2, self.n)
        self.organised = r.beta(2, 2, self.n)
        self.emotional = r.beta(2, 2, self.n)
        young = r.random(self.n) < 0.5
        aff = r.normal(0, 0.6, (self.n, len(F.CHANNELS)))
        aff[:, F.CHANNELS.index("sms")] += np.where(young, 0.8, -0.4)
        aff[:, F.CHANNELS.index("email")] += np.where(young, -0.2, 0.5)
        aff[:, F.CHANNELS.index("letter")] += np.where(young, -0.8, 0.4)
        self.channel_affinity = aff
        self.peak_bucket = r.choice(len(F.HOUR_BUCKETS), self.n, p=[0.2, 0.15, 0.2, 0.45])

    # The funnel, as logits, for debtor i and an archetype (tone family, CTA family, channel,
    # bucket). The truth is a function of the archetype only, so the best achievable policy
    # over the learner's action space is well defined.
    def p_open(self, i: int, channel: str, bucket: int, sends_before: int) -> float:
        ch = F.CHANNELS.index(channel)
        hour = 0.8 if bucket == self.peak_bucket[i] else -0.3
        if channel == "letter":
            hour = 0.0
        fatigue = -0.06 * min(sends_before, 10)
        z = CHANNEL_OPEN[channel] + self.channel_affinity[i, ch] + hour + fatigue
        z += 0.8 * (self.willing[i] - 0.5)
        return float(_sigmoid(z))

    def p_click(self, i: int, tone: str, cta: str) -> float:
        e = self.emotional[i]
        z = -1.4 + 2 * e * TONE_EMOTIONAL[tone] + 2 * (1 - e) * TONE_RATIONAL[tone]
        z += 1.2 * (self.willing[i] - 0.5)
        if tone == "firm":  # firm works on the able but unwilling
            z += 1.5 * (self.able[i] - 0.5) * (1 - self.willing[i])
        if cta == "talk":
            z += 0.3
        return float(_sigmoid(z))

    def p_convert(self, i: int, cta: str) -> float:
        a = self.able[i]
        z = -0.6 + 1.5 * (self.willing[i] - 0.5)
        if cta == "pay":
            z += 2.5 * (a - 0.5)
        elif cta == "plan":
            z += 2.0 * (0.5 - a) + 0.2
        elif cta == "talk":
            z += -0.4 + 0.8 * (self.emotional[i] - 0.5)
        return float(_sigmoid(z))

    def conversion_probability(self, i: int, action: int, sends_before: int) -> float:
        a = F.ACTIONS[action]
        return (
            self.p_open(i, a.channel, a.bucket, sends_before)
            * self.p_click(i, a.tone, a.cta)
            * self.p_convert(i, a.cta)
        )


# --- the run --------------------------------------------------------------------------------


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


def _phone(region: str, k: int) -> str:
    import phonenumbers

    from accounts.regions import country_of

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
        from accounts.models import Creditor

        self.creditor = Creditor.objects.create(
            name="Simulated Utility", slug="sim", display_name="Simulated Utility",
            default_currency="EUR", max_plan_months=12,
        )  # fmt: skip
        self._library()

    def _library(self) -> None:
        from messaging.models import MessageVariant, Tone

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
        for lang, ch, tone, cta, stages in specs:
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
        from accounts import services as accounts_services
        from accounts.models import Debtor

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
        import time_machine

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
        from recommender import services

        self._timed("typology", services.typology_refresh)
        if not self.cfg.retrain:
            return
        self.clock.move_to(self.cfg.start + timedelta(days=day, hours=2))
        t = time.perf_counter()
        try:
            model = services.model_retrain(actor="simulator")
        except services.RetrainSkipped as exc:
            log.info("simulator day %d: %s", day, exc)
            return
        finally:
            self.timings["retrain"] += time.perf_counter() - t
        m = model.metrics
        self.models.append(
            {
                "day": day,
                "label": model.label,
                "status": model.status,
                "rows": model.rows_used,
                "fit_seconds": m.get("fit_seconds"),
                "value": m.get("value"),
                "vs_random": m.get("vs_random"),
                "vs_live": m.get("vs_live"),
                "holdout_log_loss": m.get("holdout_log_loss"),
            }
        )

    def _plan(self, day: int) -> None:
        from recommender import services
        from recommender.models import Decision

        result = services.plan_contacts(actor="simulator")
        for key in ("due", "planned", "blocked", "without_candidates", "existing"):
            self.planning[key] += getattr(result, key)
        new = Decision.objects.filter(decided_at=datetime.now(UTC)).values_list(
            "message_id", "debtor_id", "arm", "action", "eligible"
        )
        for message_id, debtor_id, arm, action, eligible in new:
            i = self.debtor_index[debtor_id]
            mask = Decision.unpack_eligible(eligible, F.N_ACTIONS)
            sends = self.sends[i]
            allowed = np.flatnonzero(mask)
            values = np.array([self.world.conversion_probability(i, a, sends) for a in allowed])
            if self.cfg.export is not None:
                row = np.full(F.N_ACTIONS, np.nan, dtype=np.float32)
                row[allowed] = values
                self.truth[message_id] = row
            self.expected.append(
                {
                    "day": day,
                    "arm": arm,
                    "chosen": self.world.conversion_probability(i, action, sends),
                    "uniform": float(values.mean()),
                    "best": float(values.max()),
                }
            )

    def _dispatch(self, day: int) -> None:
        from messaging import services as messaging
        from messaging.models import Message

        OUTBOX.clear()
        messaging.dispatch_due()
        if not OUTBOX:
            return
        ids = [mid for mid, _ in OUTBOX]
        rows = Message.objects.filter(pk__in=ids).values_list(
            "pk", "debtor_id", "arm", "channel", "variant__tone__slug", "variant__cta", "sent_at"
        )
        for pk, debtor_id, arm, channel, tone, cta, sent_at in rows:
            i = self.debtor_index.get(debtor_id)
            if i is None:
                continue
            self.outcomes[pk] = MessageOutcome(day=day, arm=arm)
            local = sent_at.astimezone(F.zone_of(self._tz(debtor_id)))
            bucket = _bucket_of(local.hour)
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
            from accounts.models import Debtor

            self._tz_cache.update(
                Debtor.objects.filter(creditor=self.creditor).values_list("pk", "timezone")
            )
            tz = self._tz_cache.get(debtor_id, "UTC")
        return tz

    def _push(self, when: datetime, kind: str, message_id: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (when, self.seq, kind, message_id))

    def _react_until(self, until: datetime, day: int) -> None:
        from messaging import services as messaging
        from messaging.models import EventKind, Message

        while self.events and self.events[0][0] < until:
            when, _, kind, message_id = heapq.heappop(self.events)
            self.clock.move_to(when)
            message = Message.objects.select_related("account", "debtor").get(pk=message_id)
            outcome = self.outcomes[message_id]
            if kind == "open":
                messaging.event_record(
                    message=message, kind=EventKind.OPENED, event_key=f"open:{message_id}",
                    source="tracking", occurred_at=when,
                )  # fmt: skip
                outcome.opened = True
            elif kind == "click":
                messaging.event_record(
                    message=message, kind=EventKind.CLICKED, event_key=f"click:{message_id}:0",
                    source="tracking", occurred_at=when, data={"link": 0},
                )  # fmt: skip
                outcome.clicked = True
            else:
                amount = self._convert(message, kind.split(":", 1)[1], when)
                if amount is not None:
                    outcome.converted = True
                    outcome.amount += amount
        self.clock.move_to(until - timedelta(seconds=1))

    def _convert(self, message: Any, cta: str, when: datetime) -> float | None:
        """The debtor acts on a message: pays in full, part, or agrees a plan (portal-like)."""
        from accounts import services as accounts_services
        from accounts.models import Account, AccountStatus, DomainError
        from messaging import services as messaging

        account = Account.objects.select_related("creditor", "debtor").get(pk=message.account_id)
        if account.status not in (AccountStatus.ACTIVE, AccountStatus.IN_PLAN):
            return None
        i = self.debtor_index[account.debtor_id]
        able = self.world.able[i]
        try:
            if account.status == AccountStatus.IN_PLAN:
                amount = self._pay_instalment(account, when)
                kind, ref = "payment", f"inst-{message.pk}"
            elif cta == "plan" or able < 0.35:
                count = 6 if able < 0.3 else 3
                plan = accounts_services.plan_create(
                    account=account, frequency="fortnightly", count=count,
                    first_due=when.date() + timedelta(days=3), actor="debtor",
                )  # fmt: skip
                self.plan_of_message[account.pk] = message.pk
                amount, kind, ref = 0.0, "plan", f"plan-{plan.pk}"
            else:
                share = 1.0 if able > 0.5 or self.rng.random() < 0.5 else 0.5
                value = (account.current_balance * Decimal(str(share))).quantize(Decimal("0.01"))
                payment, _ = accounts_services.payment_record(
                    account=account, amount=value, idempotency_key=f"sim-{message.pk}",
                    method="card", actor="debtor", provider="simulated",
                )  # fmt: skip
                amount, kind, ref = float(payment.amount), "payment", f"pay-{payment.pk}"
        except DomainError as exc:
            log.info("simulator: conversion refused: %s", exc)
            return None
        messaging.conversion_attribute(account=account, at=when, kind=kind, reference=ref)
        return amount

    def _pay_instalment(self, account: Any, when: datetime) -> float:
        from accounts import services as accounts_services
        from accounts.selectors import instalment_next

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
        from accounts import services as accounts_services
        from accounts.models import DomainError, Installment, InstallmentStatus, PlanStatus

        if hour != 18:
            return
        due = Installment.objects.filter(
            plan__status=PlanStatus.ACTIVE,
            due_date=now.date(),
            status__in=[InstallmentStatus.PENDING, InstallmentStatus.PARTIAL],
        ).select_related("plan__account", "plan__account__debtor", "plan__account__creditor")
        for inst in due:
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
        from messaging.models import Message
        from recommender import evaluation

        db = {
            pk: (conv is not None)
            for pk, conv in Message.objects.filter(pk__in=list(self.outcomes)).values_list(
                "pk", "converted_at"
            )
        }
        weeks: dict[int, dict[str, dict[str, float]]] = defaultdict(
            lambda: {arm: _blank() for arm in ("policy", "control")}
        )
        total = {arm: _blank() for arm in ("policy", "control")}
        for pk, o in self.outcomes.items():
            for bucket in (weeks[o.day // 7][o.arm], total[o.arm]):
                bucket["sends"] += 1
                bucket["opens"] += o.opened
                bucket["clicks"] += o.clicked
                bucket["conversions"] += db.get(pk, False)
                bucket["amount_recovered"] += o.amount

        def block(arms: dict[str, dict[str, float]]) -> dict[str, Any]:
            rates = {
                arm: {
                    metric: evaluation.wilson(int(c[key]), int(c["sends"]))
                    for metric, key in (("conversion", "conversions"), ("click", "clicks"))
                }
                for arm, c in arms.items()
            }
            out: dict[str, Any] = {
                arm: {
                    **{k: (round(v, 2) if isinstance(v, float) else int(v)) for k, v in c.items()},
                    "conversion_rate": rates[arm]["conversion"].as_dict(),
                    "click_rate": rates[arm]["click"].as_dict(),
                }
                for arm, c in arms.items()
            }
            p, c = arms["policy"], arms["control"]
            out["uplift_vs_random"] = {
                **{
                    metric: evaluation.relative_uplift(
                        rates["policy"][metric], rates["control"][metric]
                    ).as_dict()
                    for metric in ("conversion", "click")
                },
                "amount_per_send": (
                    p["amount_recovered"] / p["sends"] / (c["amount_recovered"] / c["sends"]) - 1
                    if p["sends"] and c["sends"] and c["amount_recovered"]
                    else None
                ),
            }
            return out

        truth = _truth_by(self.expected, key=lambda e: e["day"] // 7)
        summary = {
            "config": {
                "debtors": self.cfg.debtors,
                "days": self.cfg.days,
                "seed": self.cfg.seed,
                "start": self.cfg.start.isoformat(),
            },
            "runtime_seconds": round(getattr(self, "seconds", 0.0), 1),
            "timings_seconds": {k: round(v, 1) for k, v in self.timings.items()},
            "planning": dict(self.planning),
            "total": block(total),
            "weeks": {str(w): block(weeks[w]) for w in sorted(weeks)},
            "true_expected_conversion": {
                "note": "World ground truth per decision: the chosen archetype, a uniform pick "
                "among the eligible ones, and the best eligible one (mean per send).",
                "total": _truth_by(self.expected, key=lambda e: 0).get(0),
                "weeks": {str(k): v for k, v in sorted(truth.items())},
            },
            "models": self.models,
        }
        if self.cfg.export is not None:
            self.export(self.cfg.export)
            summary["export"] = str(self.cfg.export)
        if self.cfg.png is not None:
            self._plot(self.cfg.png)
            summary["learning_curve_png"] = str(self.cfg.png)
        return summary

    def export(self, path: Path) -> None:
        """Save the sent decisions with the world's true value of every eligible action
        (`bench/recommender.py` evaluates policies on them exactly)."""
        from recommender.models import Decision

        rows = Decision.objects.filter(message__sent_at__isnull=False).order_by("decided_at", "id")
        X, A, P, R, E, T = [], [], [], [], [], []
        for mid, ctx, el, action, prop, conv in rows.values_list(
            "message_id", "context", "eligible", "action", "propensity", "message__converted_at"
        ):
            if mid not in self.truth:
                continue
            X.append(Decision.unpack_context(ctx, F.N_FEATURES))
            E.append(Decision.unpack_eligible(el, F.N_ACTIONS))
            A.append(action)
            P.append(prop)
            R.append(1.0 if conv is not None else 0.0)
            T.append(self.truth[mid])
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, X=np.array(X), actions=np.array(A), propensities=np.array(P),
            rewards=np.array(R), eligible=np.array(E), truth=np.array(T),
        )  # fmt: skip

    def _plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        days = sorted({e["day"] for e in self.expected})
        if not days:
            return
        series: dict[str, list[float]] = {"policy arm": [], "uniform random": [], "best": []}
        observed: dict[str, list[float]] = {"policy": [], "control": []}
        for d in days:
            window = [e for e in self.expected if d - 6 <= e["day"] <= d and e["arm"] == "policy"]
            series["policy arm"].append(_mean([e["chosen"] for e in window]))
            series["uniform random"].append(_mean([e["uniform"] for e in window]))
            series["best"].append(_mean([e["best"] for e in window]))
            for arm in observed:
                outs = [o for o in self.outcomes.values() if d - 6 <= o.day <= d and o.arm == arm]
                observed[arm].append(_mean([float(o.converted) for o in outs]))
        fig, ax = plt.subplots(figsize=(9, 5))
        ax.plot(days, series["best"], "k--", label="best eligible (oracle)")
        ax.plot(days, series["policy arm"], "C0-", lw=2, label="policy arm (true expected)")
        ax.plot(days, series["uniform random"], "C1-", label="uniform random (true expected)")
        ax.plot(days, observed["policy"], "C0:", label="policy arm (observed, 7-day)")
        ax.plot(days, observed["control"], "C1:", label="control arm (observed, 7-day)")
        for m in self.models:
            if m["status"] == "live":
                ax.axvline(m["day"], color="0.85", lw=0.8, zorder=0)
        ax.set_xlabel("simulated day")
        ax.set_ylabel("conversion probability per message")
        ax.set_title(
            f"Recommender learning curve ({self.cfg.debtors} debtors, seed {self.cfg.seed}); "
            "grey lines: promotions"
        )
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _bucket_of(hour: int) -> int:
    for b, bucket in enumerate(F.HOUR_BUCKETS):
        if bucket.start <= hour < bucket.end:
            return b
    return 0 if hour < F.HOUR_BUCKETS[0].start else len(F.HOUR_BUCKETS) - 1


def _blank() -> dict[str, float]:
    return {"sends": 0, "opens": 0, "clicks": 0, "conversions": 0, "amount_recovered": 0.0}


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _truth_by(expected: list[dict[str, Any]], key) -> dict[Any, dict[str, Any]]:
    groups: dict[Any, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for e in expected:
        g = groups[key(e)]
        g[f"{e['arm']}_chosen"].append(e["chosen"])
        g["uniform"].append(e["uniform"])
        g["best"].append(e["best"])
    out = {}
    for k, g in groups.items():
        row = {name: round(_mean(v), 5) for name, v in g.items()}
        if row.get("policy_chosen") and row.get("uniform"):
            row["policy_vs_uniform"] = round(row["policy_chosen"] / row["uniform"] - 1, 4)
            gap = row["best"] - row["uniform"]
            row["gap_closed"] = (
                round((row["policy_chosen"] - row["uniform"]) / gap, 4) if gap else None
            )
        out[k] = row
    return out


SIMULATOR_SETTINGS: dict[str, Any] = {
    "MESSAGING_EMAIL_CHANNEL_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_SMS_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_WHATSAPP_BACKEND": "recommender.simulator.SimulatedBackend",
    "MESSAGING_LETTER_BACKEND": "recommender.simulator.SimulatedBackend",
    "RECOMMENDER_MODEL_RECHECK_SECONDS": 0,
    # The deployment facts some regions' disclosures need (a real deployment sets them).
    "MESSAGING_DISCLOSURE_VALUES": {
        "collector_name": "Simulated Collections Ltd",
        "collector_address": "1 Simulation Way, Boston MA 02101",
        "creditor_address": "2 Utility Road, Springfield",
        "ca_license_number": "CA-000000",
        "supervisory_authority": "Simulated Authority",
        "interest_calculation": "No interest is charged.",
        "collection_costs": "No collection costs are charged.",
        "vat_statement": "No VAT is charged.",
        "address_source": "Your address was provided by the creditor.",
        "payment_methods": "card, bank transfer",
    },
    "RECOMMENDER_REWARD_DELAY_DAYS": 2,
    "RECOMMENDER_MIN_TRAIN_ROWS": 1000,
    # Sixty nightly fits on 2 cores: no k-fold prior search on small logs, shorter L-BFGS
    # runs, at most 30,000 (the newest) decisions per fit. In closed loop this config both
    # runs faster and converts better than the learner's defaults (docs/simulator.md).
    "RECOMMENDER_LEARNER_CONFIG": {"small_log_rows": 0, "max_iter": 80},
    "RECOMMENDER_TRAIN_MAX_ROWS": 30_000,
}
"""Settings the simulator runs under (the pipeline is the real one; only the backend differs).
A 2-day reward delay: simulated debtors act within hours of a message."""


def simulate(config: SimulationConfig) -> dict[str, Any]:
    """Run one simulation in the current database (use a throwaway one) and summarise it."""
    from django.test import override_settings

    from recommender import services

    with override_settings(**SIMULATOR_SETTINGS):
        services.policy_forget()
        sim = Simulation(config)
        return sim.run()


def dump(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, default=str)
