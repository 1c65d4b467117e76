"""How long each kind of personal data is kept, per region (docs/privacy.md, "Retention").

`DEFAULTS` ships the platform's periods; `settings.PRIVACY_RETENTION` (JSON in the
environment variable of the same name) overrides any of them per region:

    {"GB": {"message_content": {"days": 730, "citation": "..."}}}

A region's period for a kind is its own, else its nearest parent's (`US-NY-NYC` -> `US-NY` ->
`US`), else `default`'s. A period counts from the record (the message sent, the decision
made), or with `after_final` from the later of that and the day the debt's account became
final: laws that set a period from the last collection activity on a debt are read that way.

A citation names the law that sets the period where this project knows one, and otherwise
says it is the platform's default: nothing here is legal advice, and each deployment's
counsel should confirm or change the periods for its regions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q

from accounts import regions


@dataclass(frozen=True, slots=True)
class Period:
    days: int
    citation: str
    after_final: bool = False


KINDS: dict[str, str] = {
    "message_content": "rendered messages (recipient, subject, body, links) after sending",
    "compliance_decisions": "compliance decisions (the audit of each contact check)",
    "closed_accounts": "a debtor's personal data once every account is final (erased)",
    "portal_ip_digests": "per-IP portal lockout counters (keyed digests) once idle",
}
GLOBAL_KINDS = frozenset({"portal_ip_digests"})
"""Kinds with no region (only `default` may set them)."""

PLATFORM_DEFAULT = (
    "Platform default: no period set by law is known to this project for this region; "
    "storage limitation (e.g. GDPR Art. 5(1)(e)) asks for no longer than needed. "
    "Confirm with counsel."
)
REG_F = (
    "US: 12 CFR 1006.100(a) (Regulation F) - a debt collector retains records that are "
    "evidence of compliance or noncompliance from the start of collection activity on a debt "
    "until three years after its last collection activity on it. Counted here from the later "
    "of the record and the account becoming final. Confirm with counsel; state laws may ask "
    "for longer."
)

DEFAULTS: dict[str, dict[str, Period]] = {
    "default": {
        # Long enough to answer a complaint about what was sent.
        "message_content": Period(365, PLATFORM_DEFAULT),
        "compliance_decisions": Period(3 * 365, PLATFORM_DEFAULT, after_final=True),
        # Six years: a common limitation period for claims about a debt.
        "closed_accounts": Period(6 * 365, PLATFORM_DEFAULT),
        # Once a counter locks nothing and counted nothing for a day.
        "portal_ip_digests": Period(1, PLATFORM_DEFAULT),
    },
    "US": {
        "message_content": Period(3 * 365, REG_F, after_final=True),
        "compliance_decisions": Period(3 * 365, REG_F, after_final=True),
    },
}


class RetentionConfigError(ValueError):
    """`PRIVACY_RETENTION` is not what `configuration` understands (a system check says so)."""


def _period(value: Any, where: str, base: Period | None) -> Period:
    if not isinstance(value, dict):
        raise RetentionConfigError(f'{where}: an object such as {{"days": 365}}.')
    unknown = set(value) - {"days", "citation", "after_final"}
    if unknown:
        raise RetentionConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}.")
    days = value.get("days", base.days if base else None)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise RetentionConfigError(f"{where}: days must be a whole number of at least 1.")
    citation = value.get("citation", PLATFORM_DEFAULT)
    if not isinstance(citation, str) or not citation.strip():
        raise RetentionConfigError(f"{where}: citation must be text.")
    after_final = value.get("after_final", base.after_final if base else False)
    if not isinstance(after_final, bool):
        raise RetentionConfigError(f"{where}: after_final must be true or false.")
    return Period(days, citation, after_final)


def configuration(overrides: Any = None) -> dict[str, dict[str, Period]]:
    """`DEFAULTS` with `overrides` (default: `settings.PRIVACY_RETENTION`) applied; raises
    `RetentionConfigError` naming the first problem."""
    if overrides is None:
        overrides = settings.PRIVACY_RETENTION or {}
    if not isinstance(overrides, dict):
        raise RetentionConfigError("PRIVACY_RETENTION: an object of region -> kind -> period.")
    config = {code: dict(kinds) for code, kinds in DEFAULTS.items()}
    for code, kinds in overrides.items():
        if code != "default" and not (isinstance(code, str) and regions.is_valid(code)):
            raise RetentionConfigError(f"PRIVACY_RETENTION: unknown region {code!r}.")
        if not isinstance(kinds, dict):
            raise RetentionConfigError(f"PRIVACY_RETENTION[{code}]: an object of kind -> period.")
        for kind, value in kinds.items():
            where = f"PRIVACY_RETENTION[{code}][{kind}]"
            if kind not in KINDS:
                raise RetentionConfigError(f"{where}: unknown kind; use {', '.join(KINDS)}.")
            if kind in GLOBAL_KINDS and code != "default":
                raise RetentionConfigError(f"{where}: set for every region, under 'default'.")
            base = periods_for(code, config).get(kind)
            config.setdefault(code, {})[kind] = _period(value, where, base)
    return config


def _chain(code: str) -> list[str]:
    """`default`, then each ancestor of `code` down to `code` itself (`US`, `US-NY`, ...)."""
    parts = code.split("-")
    return ["default", *("-".join(parts[:i]) for i in range(1, len(parts) + 1))]


def periods_for(code: str, config: dict[str, dict[str, Period]] | None = None) -> dict:
    """The periods that apply to a debtor region, by kind."""
    config = config if config is not None else configuration()
    merged: dict[str, Period] = {}
    for key in _chain(code) if code != "default" else ["default"]:
        merged.update(config.get(key, {}))
    return merged


def region_filter(key: str, keys: list[str]) -> Callable[[str], Q]:
    """A builder of the Q matching the debtor regions a configured `key` governs (itself and
    its subdivisions, minus those a more specific configured key governs), on a field path
    (`"region"`, `"debtor__region"`)."""

    def covers(field: str, code: str) -> Q:
        return Q(**{field: code}) | Q(**{f"{field}__startswith": f"{code}-"})

    def build(field: str) -> Q:
        query = Q() if key == "default" else covers(field, key)
        for other in keys:
            if other in (key, "default"):
                continue
            if key == "default" or other.startswith(f"{key}-"):
                query &= ~covers(field, other)
        return query

    return build


def plan(config: dict[str, dict[str, Period]] | None = None) -> list[tuple[str, str, Period]]:
    """(kind, region key, period) for every configured region and kind, the order retention
    runs in: each region key governs the debtor regions `region_filter` gives it."""
    config = config if config is not None else configuration()
    keys = sorted(config, key=lambda k: (k != "default", k))
    lines = []
    for kind in KINDS:
        for key in keys:
            if kind in GLOBAL_KINDS and key != "default":
                continue
            period = periods_for(key, config).get(kind)
            if period is not None:
                lines.append((kind, key, period))
    return lines
