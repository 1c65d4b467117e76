"""List filters of the compliance decisions' admin that the operations cockpit links to
(collections_site/operations/cockpit/compliance.py): the checks refused by one rule
(`code=US.call_cap_7d`), by a kind of rule (`rule_kind=cap`), and by outcome
(`outcome=rescheduled`). A value that names nothing matches nothing; none ever fails."""

from __future__ import annotations

from django.contrib import admin
from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compliance.models import RULE_MODELS


def reason_code_q(code: str) -> Q:
    """Decisions whose reasons include rule `code` (a JSON containment test on PostgreSQL)."""
    if connection.vendor == "postgresql":
        return Q(reasons__contains=[{"code": code}])
    return Q(reasons__icontains=f'"code": "{code}"')


class ReasonCodeFilter(admin.SimpleListFilter):
    title = _("refused by rule")
    parameter_name = "code"

    def lookups(self, request, model_admin):
        # Reached from the cockpit's tables; listing every rule code here would be hundreds.
        return [(self.value(), self.value())] if self.value() else []

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request, queryset):
        return queryset.filter(reason_code_q(self.value())) if self.value() else queryset


class RuleKindFilter(admin.SimpleListFilter):
    title = _("refused by a rule of kind")
    parameter_name = "rule_kind"

    def lookups(self, request, model_admin):
        return [(kind, kind) for kind in RULE_MODELS if kind != "disclosure"]

    def queryset(self, request, queryset):
        model = RULE_MODELS.get(self.value() or "")
        if model is None:
            return queryset
        match = Q(pk__in=[])
        for code in model.objects.values_list("code", flat=True):
            match |= reason_code_q(code)
        return queryset.filter(match)


class OutcomeFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [
            ("allowed", _("Allowed")),
            ("rescheduled", _("Rescheduled (allowed later)")),
            ("blocked", _("Blocked (nothing lifts it by waiting)")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "allowed":
            return queryset.filter(allowed=True)
        if value == "rescheduled":
            return queryset.filter(allowed=False, next_allowed_at__isnull=False)
        if value == "blocked":
            return queryset.filter(allowed=False, next_allowed_at__isnull=True)
        return queryset
