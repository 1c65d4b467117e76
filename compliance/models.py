"""Compliance data: regions and their contact rules, the contact ledger, and the audit trails.

Rules are data a compliance officer edits in the Django admin (``compliance/admin.py``: one
Region page with an inline per rule kind). Each rule model mirrors one rule class of the
Django-free engine (``compliance/engine/``) and one ``kind`` of the shipped JSON packs
(``compliance/packs/*.json``); ``compliance/rules.py`` converts rows to pack dicts and from there,
through ``packs.rule_from_dict``, to engine rules, so the JSON and database paths cannot drift.
The shipped packs are loaded by migration ``0002`` and ``manage.py load_rule_packs``.

Writes go through ``compliance.services``; validation lives in validators and ``clean()`` so the
admin shows it as form errors. See docs/compliance.md.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone as dj_tz

from accounts.regions import timezone_is_valid
from compliance import engine
from compliance.packs import PackError
from compliance.rules import engine_rule, holiday_calendar_check, rule_snapshot, windows_normalize

REGION_CODE_RE = re.compile(r"^(default|[A-Z]{2}(-[A-Z0-9]{1,3}){0,2})$")
"""ISO 3166-1 alpha-2 (``FR``), ISO 3166-2 (``US-MA``, ``CA-ON``), a custom sub-area under an
ISO parent (``US-NY-NYC``), or ``default`` (the platform fallback pack)."""


def _choices(values: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


CHANNEL_CHOICES = _choices(engine.CHANNELS)
OUTCOME_CHOICES = _choices(engine.OUTCOMES)
FLAG_CHOICES = _choices(sorted(engine.FLAGS))
PERIOD_CHOICES = _choices(engine.PERIODS)
EVENT_CHOICES = _choices(tuple(engine.EVENT_KINDS))
SCOPE_CHOICES = [("debt", "per debt"), ("debtor", "per debtor")]
MODE_CHOICES = _choices(engine.PERMISSION_MODES)
WHEN_CHOICES = _choices(engine.DISCLOSURE_WHEN)


# --- Validators (run by full_clean, so the admin shows them as form errors) -------------------


def validate_region_code(value: str) -> None:
    if not REGION_CODE_RE.match(value or ""):
        raise ValidationError(
            "Use ISO 3166-1 (FR), ISO 3166-2 (US-MA) or a sub-area under its ISO parent "
            "(US-NY-NYC), in capitals; or 'default'."
        )


def validate_time_zone(value: str) -> None:
    if not timezone_is_valid(value):
        raise ValidationError(f"Unknown IANA time zone {value!r}, e.g. America/New_York.")


def _validate_subset(value: Any, allowed: frozenset[str], what: str, *, empty_ok: bool) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"Must be a list of {what}.")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValidationError(f"Unknown {what}: {', '.join(unknown)}.")
    if not value and not empty_ok:
        raise ValidationError(f"Choose at least one of the {what}.")


def validate_channels(value: Any) -> None:
    _validate_subset(value, frozenset(engine.CHANNELS), "channels", empty_ok=False)


def validate_channels_or_empty(value: Any) -> None:
    _validate_subset(value, frozenset(engine.CHANNELS), "channels", empty_ok=True)


def validate_flags(value: Any) -> None:
    _validate_subset(value, engine.FLAGS, "flags", empty_ok=True)


def validate_windows(value: str) -> None:
    try:
        windows_normalize(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


# --- Rules version ----------------------------------------------------------------------------


class RuleSetVersion(models.Model):
    """One row whose ``token`` changes with every rule change (admin, loader, services).

    ``compliance.selectors`` keys its compiled-rules cache on the token, so every process picks
    up an edit (see docs/compliance.md, Caching). Bumped in the transaction of the change.
    """

    token = models.CharField(max_length=32)
    changed_at = models.DateTimeField(default=dj_tz.now)

    def __str__(self) -> str:
        return f"rules version {self.token} ({self.changed_at:%Y-%m-%d %H:%M})"


# --- Regions ----------------------------------------------------------------------------------


class Region(models.Model):
    """A jurisdiction whose contact rules apply to debtors with this ``Debtor.region`` code.

    Effective rules are the region's own, then each ancestor's (``parent``), then the
    ``default`` region's fallback rules. A debtor region without a row uses its nearest ISO
    parent (``US-TX`` -> ``US``). The holiday calendar is the ``holidays`` package calendar of
    the nearest region in the chain that names a country, plus the extra dates of every region
    in the chain.
    """

    code = models.CharField(max_length=16, unique=True, validators=[validate_region_code])
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    time_zone = models.CharField(
        max_length=64,
        validators=[validate_time_zone],
        help_text="Default IANA time zone, used when a debtor has none (the debtor's own wins).",
    )
    holiday_country = models.CharField(
        max_length=3,
        blank=True,
        help_text="Country code of the `holidays` package calendar, e.g. US. Blank: inherit.",
    )
    holiday_subdivision = models.CharField(
        max_length=10, blank=True, help_text="Subdivision of that calendar, e.g. MA, ON."
    )
    holiday_categories = models.JSONField(
        default=list,
        blank=True,
        help_text='Holiday categories of the package, e.g. ["public", "optional"]. '
        "Empty: the package default (public).",
    )
    note = models.TextField(blank=True)
    shipped = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The region as last loaded from its shipped pack (to detect admin edits).",
    )
    created_at = models.DateTimeField(default=dj_tz.now, editable=False)
    updated_at = models.DateTimeField(default=dj_tz.now, editable=False)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def clean(self) -> None:
        if self.code:
            self.code = self.code.strip()
            if self.code.lower() != "default":
                self.code = self.code.upper()
        errors: dict[str, str] = {}
        # A parent chain must end: no region may be its own ancestor.
        seen = {self.pk} if self.pk else set()
        node = self.parent
        while node is not None:
            if node.pk in seen:
                errors["parent"] = "A region cannot be its own ancestor."
                break
            seen.add(node.pk)
            node = node.parent
        if self.code == "default" and self.parent_id:
            errors["parent"] = "The default region backs every region and has no parent."
        cats = self.holiday_categories
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            errors["holiday_categories"] = 'A list of category names, e.g. ["public"].'
        elif problem := holiday_calendar_check(
            self.holiday_country, self.holiday_subdivision or None, tuple(cats)
        ):
            errors["holiday_country"] = problem
        if errors:
            raise ValidationError(errors)


class RegionHoliday(models.Model):
    """An extra no-contact day type "public holiday" an admin adds to a region's calendar."""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="extra_holidays")
    date = models.DateField()
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["region", "date"], name="region_holiday_unique_date")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


# --- Rules ------------------------------------------------------------------------------------


class RuleBase(models.Model):
    """Fields every rule kind shares (see ``engine.Rule`` and the pack format)."""

    KIND: str = ""

    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="%(class)ss")
    code = models.CharField(
        max_length=100, unique=True, help_text="Unique, prefixed with the region: US-MA.phone_cap."
    )
    title = models.CharField(max_length=300, help_text="Human summary, quoted in every reason.")
    channels = models.JSONField(default=list, validators=[validate_channels])
    citation_text = models.TextField(help_text="The legal reference, e.g. 12 CFR 1006.14(b).")
    citation_url = models.CharField(
        max_length=500, help_text="Where to read it (a URL, or a docs path for platform policy)."
    )
    valid_from = models.DateField(null=True, blank=True, help_text="Inclusive local date.")
    valid_to = models.DateField(null=True, blank=True, help_text="Inclusive local date.")
    when_flags = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_flags],
        help_text="Apply only to debtors with all of these flags.",
    )
    fallback = models.BooleanField(
        default=False,
        help_text="Default-region rules only: applies to a channel only where no nearer rule "
        "of the same kind and flags covers it.",
    )
    enabled = models.BooleanField(
        default=True, help_text="Untick to switch a rule off without deleting it."
    )
    note = models.TextField(blank=True, help_text="Why this reading (not used by the engine).")
    position = models.PositiveIntegerField(default=0, editable=False)
    shipped = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=dj_tz.now, editable=False)
    updated_at = models.DateTimeField(default=dj_tz.now, editable=False)

    class Meta:
        abstract = True
        ordering = ["region", "position", "id"]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        """Validate the whole rule exactly as the engine will see it."""
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValidationError({"valid_to": "Must be on or after valid from."})
        if self.KIND == "disclosure":
            self._clean_texts()
        # A field that is itself invalid is already reported on the field; checking the whole
        # rule then would only repeat that error in a vaguer form.
        for f in self._meta.concrete_fields:
            if f.is_relation or not f.editable:
                continue
            try:
                f.clean(getattr(self, f.attname), self)
            except ValidationError:
                return
        try:
            engine_rule(self, self.KIND, region=self.region.code if self.region_id else "")
        except (PackError, ValueError, TypeError) as exc:
            raise ValidationError(str(exc)) from None

    @property
    def origin(self) -> str:
        """'shipped' (as in its pack), 'edited' (changed since loaded) or 'added' (admin's)."""
        if self.shipped is None:
            return "added"
        return "shipped" if rule_snapshot(self, self.KIND) == self.shipped else "edited"


class WindowRule(RuleBase):
    """Allowed contact windows per day type, as text: ``08:00-12:00, 13:00-21:00`` or ``none``."""

    KIND = "window"
    _help = 'e.g. "08:00-21:00" or "08:00-12:00, 13:00-21:00"; "none" = no contact.'

    weekday = models.CharField(max_length=200, validators=[validate_windows], help_text=_help)
    saturday = models.CharField(max_length=200, validators=[validate_windows], help_text=_help)
    sunday = models.CharField(max_length=200, validators=[validate_windows], help_text=_help)
    holiday = models.CharField(max_length=200, validators=[validate_windows], help_text=_help)

    class Meta(RuleBase.Meta):
        verbose_name = "contact window rule"


class CapRule(RuleBase):
    """At most ``max_count`` events of a kind within a period (see ``engine.CapRule``)."""

    KIND = "cap"

    max_count = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    period = models.CharField(max_length=16, choices=PERIOD_CHOICES)
    days = models.PositiveIntegerField(
        default=0, blank=True, help_text="Length of a rolling period, in local days."
    )
    counts = models.CharField(max_length=16, choices=EVENT_CHOICES, default="attempts")
    count_channels = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_channels_or_empty],
        help_text="Whose history counts; empty = the rule's channels.",
    )
    scope = models.CharField(max_length=8, choices=SCOPE_CHOICES, default="debt")
    after_first_conversation = models.BooleanField(default=False)

    class Meta(RuleBase.Meta):
        verbose_name = "frequency cap rule"


class QuietRule(RuleBase):
    """No contact for ``days`` days after a trigger event, its day being day 1."""

    KIND = "quiet"

    days = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    trigger = models.CharField(max_length=16, choices=EVENT_CHOICES, default="conversations")
    trigger_channels = models.JSONField(default=list, validators=[validate_channels])
    scope = models.CharField(max_length=8, choices=SCOPE_CHOICES, default="debt")

    class Meta(RuleBase.Meta):
        verbose_name = "quiet period rule"


class FlagRule(RuleBase):
    """A debtor flag (or all of ``when_flags``) blocks the rule's channels."""

    KIND = "flag"

    class Meta(RuleBase.Meta):
        verbose_name = "flag rule"


class PermissionRule(RuleBase):
    """A channel allowed, allowed only with recorded consent, or forbidden in the region."""

    KIND = "permission"

    mode = models.CharField(max_length=12, choices=MODE_CHOICES)

    class Meta(RuleBase.Meta):
        verbose_name = "channel permission rule"


class DisclosureRule(RuleBase):
    """A text messaging must append on the rule's channels, per language."""

    KIND = "disclosure"

    topic = models.CharField(
        max_length=60, help_text="Rules sharing a topic override each other; the nearest wins."
    )
    when = models.CharField(max_length=12, choices=WHEN_CHOICES, default="always")
    texts = models.JSONField(
        default=dict,
        help_text='Language -> text, e.g. {"en": "Reply STOP to stop texts."}. '
        "Texts may use {placeholders} that messaging fills in.",
    )
    fallback_language = models.CharField(
        max_length=8, blank=True, help_text="Used when the debtor's language has no text."
    )

    class Meta(RuleBase.Meta):
        verbose_name = "disclosure rule"

    def _clean_texts(self) -> None:
        texts = self.texts
        if (
            not isinstance(texts, dict)
            or not texts
            or not all(isinstance(k, str) and k for k in texts)
            or not all(isinstance(v, str) and v.strip() for v in texts.values())
        ):
            raise ValidationError(
                {"texts": 'An object of language -> non-empty text, e.g. {"en": "..."}.'}
            )
        if not self.fallback_language:
            self.fallback_language = next(iter(texts))
        elif self.fallback_language not in texts:
            raise ValidationError({"fallback_language": "Must be one of the texts' languages."})


RULE_MODELS: dict[str, type[RuleBase]] = {
    m.KIND: m for m in (WindowRule, CapRule, QuietRule, FlagRule, PermissionRule, DisclosureRule)
}
"""Rule models by engine/pack kind, in the order the admin shows them."""


class RuleChange(models.Model):
    """Audit of every change to regions and rules: who, when, what before and after.

    Written by ``compliance.services.rule_change_record`` (admin) and the pack loader, in the
    transaction of the change; never edited. ``before``/``after`` use the pack JSON format.
    """

    class Action(models.TextChoices):
        CREATED = "created"
        CHANGED = "changed"
        DELETED = "deleted"

    at = models.DateTimeField(default=dj_tz.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=100, help_text="admin:<user id>, load_rule_packs, ...")
    action = models.CharField(max_length=8, choices=Action.choices)
    kind = models.CharField(max_length=16, help_text="region, holiday or a rule kind.")
    code = models.CharField(max_length=100, db_index=True)
    region_code = models.CharField(max_length=16, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.code} by {self.actor}"


# --- The contact ledger and decision audit ---------------------------------------------------


class ContactAttempt(models.Model):
    """One outbound contact (attempted or made): what frequency caps and quiet periods count.

    Written only through ``compliance.services.contact_record`` (messaging at hand-off and when
    the outcome arrives; operators logging calls). ``reference`` makes recording idempotent.
    """

    debtor = models.ForeignKey(
        "accounts.Debtor", on_delete=models.PROTECT, related_name="contact_attempts"
    )
    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="contact_attempts",
        help_text="Blank: the contact concerned the debtor, and counts for every debt.",
    )
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES)
    at = models.DateTimeField(help_text="When it happened (stored in UTC).")
    outcome = models.CharField(max_length=16, choices=OUTCOME_CHOICES)
    source = models.CharField(max_length=32, help_text="Who placed it: messaging, operator, ...")
    reference = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="Caller's idempotency key (e.g. message:<id>); a repeat updates the outcome.",
    )
    created_at = models.DateTimeField(default=dj_tz.now)
    updated_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["debtor", "at"])]

    def __str__(self) -> str:
        return f"{self.channel} {self.outcome} at {self.at:%Y-%m-%d %H:%M}"


class ComplianceDecision(models.Model):
    """Audit row of one ``contact_check``: the question, the answer, the reasons with citations.

    ``local_time`` is the debtor's wall clock (ISO, minutes) in ``time_zone``; ``rules_version``
    the rules token the decision was made with.
    """

    debtor = models.ForeignKey("accounts.Debtor", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=CHANNEL_CHOICES)
    at = models.DateTimeField(help_text="The asked instant (UTC).")
    local_time = models.CharField(max_length=16, help_text="Debtor's wall clock, YYYY-MM-DDTHH:MM")
    time_zone = models.CharField(max_length=64)
    region = models.CharField(max_length=16, help_text="The debtor's region code.")
    allowed = models.BooleanField()
    reasons = models.JSONField(default=list, blank=True)
    next_allowed_at = models.DateTimeField(null=True, blank=True)
    purpose = models.CharField(max_length=16, help_text="send, deliver, plan, ...")
    rules_version = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=dj_tz.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "blocked"
        return f"{self.channel} {verdict} at {self.local_time} {self.time_zone}"
