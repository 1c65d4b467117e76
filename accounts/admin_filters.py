"""List filters of the accounts admin that the operations cockpit links to: a chart's bar
opens the payments, accounts or plans it counts (collections_site/operations/cockpit/).

Each takes its value from the query string (`region=US-MA`, `placed=2026-09`,
`due_week=2026-11-30`); a value that does not parse filters nothing rather than failing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from django.apps import apps
from django.contrib import admin
from django.utils.translation import gettext_lazy as _


def _month(value: str | None) -> date | None:
    try:
        return datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        return None


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value or "")
    except ValueError:
        return None


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class RegionFilter(admin.SimpleListFilter):
    """The debtor's region; `path` leads from the listed model to the debtor's region."""

    title = _("debtor's region")
    parameter_name = "region"
    path = "account__debtor__region"

    def lookups(self, request, model_admin):
        region = apps.get_model("compliance", "Region")
        return [(c, c) for c in region.objects.order_by("code").values_list("code", flat=True)]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.path: self.value()}) if self.value() else queryset


class AccountRegionFilter(RegionFilter):
    path = "debtor__region"


class PlacedMonthFilter(admin.SimpleListFilter):
    """Payments of the accounts placed in one UTC month (a placement cohort): `placed=YYYY-MM`."""

    title = _("account placed in (month)")
    parameter_name = "placed"

    def lookups(self, request, model_admin):
        # Reached from the cockpit's liquidation curves, not picked from a list: shown (and
        # applied) only when set.
        return [(self.value(), self.value())] if self.value() else []

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request, queryset):
        month = _month(self.value())
        if month is None:
            return queryset
        following = (month + timedelta(days=32)).replace(day=1)
        return queryset.filter(
            account__placed_at__gte=_utc(month), account__placed_at__lt=_utc(following)
        )


class InstalmentDueWeekFilter(admin.SimpleListFilter):
    """Plans with an instalment due in the seven days from `due_week=YYYY-MM-DD`."""

    title = _("instalment due in the week of")
    parameter_name = "due_week"

    def lookups(self, request, model_admin):
        return [(self.value(), self.value())] if self.value() else []

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request, queryset):
        start = _day(self.value())
        if start is None:
            return queryset
        return queryset.filter(
            installments__due_date__gte=start,
            installments__due_date__lt=start + timedelta(days=7),
        ).distinct()
