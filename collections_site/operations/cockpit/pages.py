"""What every cockpit page shares: the section tabs, the filter bar and the rendering."""

from __future__ import annotations

from typing import Any

from django.db.models import Min
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collections_site.operations.cockpit.filters import (
    CockpitFilterForm,
    CockpitFilters,
    filters_read,
)
from collections_site.operations.models import RollupState
from compliance.models import Region

SECTIONS: list[tuple[str, Any]] = [
    ("health", _("Health")),
    ("recovery", _("Recovery")),
    ("engagement", _("Engagement")),
    ("recommender", _("Recommender")),
    ("compliance", _("Compliance")),
]


def tabs(current: str, filters: CockpitFilters | None = None) -> list[dict[str, Any]]:
    """The section links, each keeping the filters in force. Health is given the creditor,
    region and channel but not the dates: the chart pages always have a range (the last 90
    days by default) and Health counts every day unless asked."""
    out = []
    for name, label in SECTIONS:
        try:
            url = reverse(f"operations:{name}")
        except NoReverseMatch:  # a section not wired in wagtail_hooks.py
            continue
        query = filters.query(dates=name != "health") if filters else ""
        if query:
            url = f"{url}?{query}"
        out.append({"name": name, "label": label, "url": url, "current": name == current})
    return out


def regions_known() -> list[str]:
    return list(Region.objects.order_by("code").values_list("code", flat=True))


def filters_for(
    request: HttpRequest, *, dated: bool = True
) -> tuple[CockpitFilterForm, CockpitFilters]:
    return filters_read(request, regions=regions_known(), dated=dated)


def cockpit_render(
    request: HttpRequest,
    *,
    section: str,
    form: CockpitFilterForm,
    filters: CockpitFilters,
    context: dict[str, Any],
) -> HttpResponse:
    """Render `operations/<section>.html` with the tabs, the filter bar and `context`."""
    title = dict(SECTIONS)[section]
    return TemplateResponse(
        request,
        f"operations/{section}.html",
        {
            "title": title,
            "section": section,
            "tabs": tabs(section, filters),
            "form": form,
            "filters": filters,
            "zone": timezone.get_current_timezone_name(),
            "refreshed_at": RollupState.objects.aggregate(at=Min("refreshed_at"))["at"],
            **context,
        },
    )
