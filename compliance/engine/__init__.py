"""The compliance rule engine: may this debtor be contacted on this channel at this local time?

Pure standard-library Python (no Django, no ``holidays``): plain values in, plain values out, so
the hard logic is testable in microseconds and reusable offline. ``compliance.packs`` builds rule
objects from the shipped JSON packs; ``compliance.services`` (Django) builds them from the
database, converts UTC to the debtor's wall clock, reads the contact ledger and audits decisions.

Flow: build rule objects (``WindowRule``, ``CapRule``, ``QuietRule``, ``FlagRule``,
``PermissionRule``, ``DisclosureRule``) for a region and all its ancestors plus the default pack,
``compile_rules`` them once into ``EffectiveRules`` (per-channel, per-validity-epoch plans with
minutes-of-day integers), then call ``evaluate`` as often as needed (``allows`` when only the
yes or no matters) and ``required_disclosures`` when composing a message. Strictest wins:
windows intersect, every cap applies, any block blocks.
See docs/compliance-engine.md.

One module per topic, each importing only those above it: ``vocabulary`` (channels, outcomes,
flags, periods), ``values`` (what goes in and out), ``rules`` (the rule kinds), ``calendar``
(minutes of the day, day types, holidays), ``compiled`` (``compile_rules``), ``history``
(frequency caps and quiet periods over the contact history), ``reasons`` (the texts of a
block) and ``evaluation`` (``evaluate``, ``allows``, ``required_disclosures``). Import from
``compliance.engine``; the submodules are its layout, not its interface.
"""

from compliance.engine.calendar import parse_hhmm
from compliance.engine.compiled import EffectiveRules, compile_rules
from compliance.engine.evaluation import allows, evaluate, required_disclosures
from compliance.engine.rules import (
    RULE_KINDS,
    CapRule,
    DisclosureRule,
    FlagRule,
    PermissionRule,
    QuietRule,
    Rule,
    WindowRule,
)
from compliance.engine.values import Citation, Contact, Decision, Disclosure, Reason
from compliance.engine.vocabulary import (
    CHANNELS,
    DAY_TYPES,
    DISCLOSURE_WHEN,
    EVENT_KINDS,
    FLAGS,
    OUTCOMES,
    PERIODS,
    PERMISSION_MODES,
    SEARCH_DAYS,
    HolidayLookup,
    RuleError,
    Windows,
)

__all__ = [
    "CHANNELS",
    "DAY_TYPES",
    "DISCLOSURE_WHEN",
    "EVENT_KINDS",
    "FLAGS",
    "OUTCOMES",
    "PERIODS",
    "PERMISSION_MODES",
    "RULE_KINDS",
    "SEARCH_DAYS",
    "CapRule",
    "Citation",
    "Contact",
    "Decision",
    "Disclosure",
    "DisclosureRule",
    "EffectiveRules",
    "FlagRule",
    "HolidayLookup",
    "PermissionRule",
    "QuietRule",
    "Reason",
    "Rule",
    "RuleError",
    "WindowRule",
    "Windows",
    "allows",
    "compile_rules",
    "evaluate",
    "parse_hhmm",
    "required_disclosures",
]
