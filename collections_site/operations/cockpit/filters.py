"""The filters every cockpit page shares: creditor, region, channel and a date range.

A GET form: a bad value is shown as a form error next to its field and the page falls back
to the default for it, never an error page. The creditor choice lists only the creditors
the viewer may see (`accounts.tenancy`); a creditor's own staff are always narrowed to
their creditor, whatever the query string says. The chart pages default to the last
`DEFAULT_DAYS` days; Health counts every day unless dates are given (`dated=False`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Channel, Creditor
from accounts.tenancy import scope_queryset

DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366


class CockpitFilterForm(forms.Form):
    creditor = forms.ModelChoiceField(
        queryset=Creditor.objects.none(), required=False, empty_label=_("All creditors")
    )
    region = forms.ChoiceField(required=False)
    channel = forms.ChoiceField(choices=[("", _("All channels")), *Channel.choices], required=False)
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user: Any, regions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        creditors = scope_queryset(Creditor.objects.order_by("name"), user, "pk")
        self.fields["creditor"].queryset = creditors
        self.fields["region"].choices = [("", _("All regions")), *((r, r) for r in regions)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            self.add_error("end", _("The end date is before the start date."))
        elif start and end and (end - start).days > MAX_DAYS:
            self.add_error("start", _("Choose at most three years at a time."))
        return data


@dataclass(frozen=True)
class CockpitFilters:
    """The filters in force: what the page counts, and the query string that keeps them.

    `start` and `end` are always set on the chart pages; on Health either may be None (no
    bound on that side)."""

    creditor: Creditor | None
    region: str
    channel: str
    start: date | None
    end: date | None
    user: Any

    def rollup(self, queryset: QuerySet, *, channel: bool = True, days: bool = True) -> QuerySet:
        """`queryset` (a rollup, fields `day`, `creditor`, `region`[, `channel`]) narrowed to
        these filters and to what the viewer may see (`days` False: on any day)."""
        qs = scope_queryset(queryset, self.user, "creditor")
        if days and self.start is not None:
            qs = qs.filter(day__gte=self.start)
        if days and self.end is not None:
            qs = qs.filter(day__lte=self.end)
        if self.creditor is not None:
            qs = qs.filter(creditor=self.creditor)
        if self.region:
            qs = qs.filter(region=self.region)
        if channel and self.channel:
            qs = qs.filter(channel=self.channel)
        return qs

    def days(self) -> list[date]:
        assert self.start is not None and self.end is not None  # the chart pages' filters
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def query(self, *, dates: bool = True, **overrides: Any) -> str:
        """The query string of these filters with `overrides` (for links between pages;
        `dates` False: without the date range)."""
        values = {
            "creditor": self.creditor.pk if self.creditor else "",
            "region": self.region,
            "channel": self.channel,
            "start": self.start.isoformat() if dates and self.start else "",
            "end": self.end.isoformat() if dates and self.end else "",
            **overrides,
        }
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def filters_read(
    request, *, regions: list[str], dated: bool = True
) -> tuple[CockpitFilterForm, CockpitFilters]:
    """The bound form (with its errors, if any) and the filters to apply: every field that
    did not validate takes its default. `dated` False: no date range unless one is given
    (either end may be open)."""
    form = CockpitFilterForm(request.GET or None, user=request.user, regions=regions)
    valid = form.is_valid() if request.GET else False
    data = form.cleaned_data if valid else {}
    if request.GET and not valid:  # keep whatever fields were good
        data = {k: v for k, v in getattr(form, "cleaned_data", {}).items() if k not in form.errors}
    today = timezone.now().date()
    if dated:
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end or (end - start).days > MAX_DAYS:
            start, end = today - timedelta(days=DEFAULT_DAYS - 1), today
    else:
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            start = end = None
    return form, CockpitFilters(
        creditor=data.get("creditor"),
        region=data.get("region") or "",
        channel=data.get("channel") or "",
        start=start,
        end=end,
        user=request.user,
    )
