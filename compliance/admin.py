"""Django admin for compliance officers (at /django-admin/compliance/).

One Region page holds the region's holiday calendar and every rule kind as an inline; errors
are form errors (validation is on the models, down to building the engine rule). Every change
— region, extra holiday, rule; created, changed or deleted — is audited as a ``RuleChange``
(who, when, before/after in the pack format) in the admin's transaction, which also bumps the
rules version so every process reloads the rules. The "Run a cases file" page (an action on
regions, and a button on the list) runs a ``compliance_check`` cases file against the rules in
the database and shows each case's result.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone as dj_tz
from django.utils.html import format_html, format_html_join

from accounts.admin import ReadOnlyAdmin
from accounts.tenancy import CreditorScopedAdmin
from compliance import engine, packs
from compliance.admin_filters import OutcomeFilter, ReasonCodeFilter, RuleKindFilter
from compliance.cases import cases_run
from compliance.forms import RULE_FORMS, CasesRunForm, ContactLogForm, RegionForm
from compliance.models import (
    REGION_CODE_RE,
    RULE_MODELS,
    ComplianceDecision,
    ContactAttempt,
    Region,
    RegionHoliday,
    RuleBase,
    RuleChange,
)
from compliance.rules import region_snapshot, rule_snapshot
from compliance.selectors import region_rules
from compliance.services import contact_record, rule_change_record

# --- Snapshots for the audit trail ------------------------------------------------------------


def _region_snap(region: Region) -> dict[str, Any]:
    parent = Region.objects.filter(pk=region.parent_id).values_list("code", flat=True).first()
    dates = list(RegionHoliday.objects.filter(region_id=region.pk).values_list("date", flat=True))
    return region_snapshot(region, parent_code=parent, extra_dates=dates)


def _holiday_snap(holiday: RegionHoliday) -> dict[str, Any]:
    return {"date": holiday.date.isoformat(), "name": holiday.name}


def _actor(request: HttpRequest) -> str:
    return f"admin:{request.user.pk}"


# --- Inlines ----------------------------------------------------------------------------------


class RegionHolidayInline(admin.TabularInline):
    model = RegionHoliday
    extra = 0
    verbose_name = "extra holiday"
    verbose_name_plural = "Extra holidays (no-contact day type 'public holiday', added here)"


class RuleInline(admin.StackedInline):
    """One inline per rule kind; the form comes from ``compliance.forms.RULE_FORMS``."""

    extra = 0
    readonly_fields = ["origin"]
    show_change_link = False

    @admin.display(description="origin")
    def origin(self, obj: RuleBase) -> str:
        if obj.pk is None:
            return "new"
        return {
            "shipped": "as shipped in its rule pack",
            "edited": "shipped, edited since (load_rule_packs keeps it)",
            "added": "added by an admin",
        }[obj.origin]


def _inline_for(kind: str) -> type[RuleInline]:
    model = RULE_MODELS[kind]
    form = RULE_FORMS[kind]
    common = ["code", "title", "enabled", "origin", "channels"]
    if "when_flags" in form.base_fields:
        common.append("when_flags")
    own = [f for f in form.Meta.fields if f not in form.COMMON]
    fieldsets = [
        (None, {"fields": common}),
        (f"{kind.capitalize()} rule", {"fields": own}) if own else None,
        (
            "Citation and validity",
            {"fields": ["citation_text", "citation_url", "valid_from", "valid_to"]},
        ),
        ("Advanced", {"classes": ["collapse"], "fields": ["fallback", "note"]}),
    ]
    return type(
        f"{model.__name__}Inline",
        (RuleInline,),
        {
            "model": model,
            "form": form,
            "fieldsets": [fs for fs in fieldsets if fs],
            "verbose_name_plural": f"{model._meta.verbose_name.capitalize()}s",
        },
    )


RULE_INLINES = [_inline_for(kind) for kind in RULE_MODELS]


# --- Regions ----------------------------------------------------------------------------------


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    form = RegionForm
    list_display = ["code", "name", "parent", "time_zone", "holiday_calendar", "rule_count"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    inlines = [RegionHolidayInline, *RULE_INLINES]
    readonly_fields = ["effective_rules"]
    actions = ["run_cases"]
    change_list_template = "admin/compliance/region/change_list.html"
    fieldsets = [
        (None, {"fields": ["code", "name", "parent", "time_zone", "note"]}),
        (
            "Holiday calendar",
            {"fields": ["holiday_country", "holiday_subdivision", "holiday_categories"]},
        ),
        ("Effective rules today", {"classes": ["collapse"], "fields": ["effective_rules"]}),
    ]

    @admin.display(description="holidays")
    def holiday_calendar(self, obj: Region) -> str:
        if not obj.holiday_country:
            return "inherited"
        return "-".join(p for p in (obj.holiday_country, obj.holiday_subdivision) if p)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Region]:
        # One count subquery per rule kind instead of six queries per listed region.
        counts = [
            Coalesce(
                Subquery(
                    model.objects.filter(region=OuterRef("pk"))
                    .order_by()
                    .values("region")
                    .annotate(n=Count("pk"))
                    .values("n")
                ),
                0,
            )
            for model in RULE_MODELS.values()
        ]
        return super().get_queryset(request).annotate(rule_total=sum(counts[1:], counts[0]))

    @admin.display(description="rules", ordering="rule_total")
    def rule_count(self, obj: Region) -> int:
        return obj.rule_total

    @admin.display(description="effective rules (own + ancestors + default), by channel")
    def effective_rules(self, obj: Region) -> str:
        if obj.pk is None:
            return "-"
        rules = region_rules(obj.code)
        today = date.today()
        rows = []
        for channel in engine.CHANNELS:
            applied = ", ".join(f"{r.code} ({r.kind})" for r in rules.rules_for(channel, on=today))
            rows.append((channel, applied or "-"))
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )

    # Audit: every save and delete records before/after in the admin's transaction.

    def save_model(self, request: HttpRequest, obj: Region, form, change: bool) -> None:
        before = _region_snap(Region.objects.get(pk=obj.pk)) if change else None
        obj.updated_at = dj_tz.now()
        super().save_model(request, obj, form, change)
        after = _region_snap(obj)
        if before != after:
            self._audit(
                request,
                [
                    {
                        "action": "changed" if change else "created",
                        "kind": "region",
                        "code": obj.code,
                        "region_code": obj.code,
                        "before": before,
                        "after": after,
                    }
                ],
            )

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        region: Region = form.instance
        model = formset.model
        kind = getattr(model, "KIND", "") or "holiday"
        snap = _holiday_snap if kind == "holiday" else (lambda o: rule_snapshot(o, kind))
        changes: list[dict[str, Any]] = []
        objs = formset.save(commit=False)
        for obj in formset.deleted_objects:
            changes.append(self._change("deleted", kind, obj, region, snap(obj), None))
            obj.delete()
        befores = {o.pk: snap(o) for o in model.objects.filter(pk__in=[o.pk for o in objs if o.pk])}
        for obj in objs:
            created = obj.pk is None
            if kind != "holiday":
                obj.updated_at = dj_tz.now()
            obj.save()
            before = None if created else befores.get(obj.pk)
            after = snap(obj)
            if before != after:
                changes.append(
                    self._change(
                        "created" if created else "changed", kind, obj, region, before, after
                    )
                )
        formset.save_m2m()
        if changes:
            self._audit(request, changes)

    def delete_model(self, request: HttpRequest, obj: Region) -> None:
        with transaction.atomic():
            self._audit(request, self._region_deletion(obj))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Region]) -> None:
        with transaction.atomic():
            self._audit(request, [c for region in queryset for c in self._region_deletion(region)])
            super().delete_queryset(request, queryset)

    def _region_deletion(self, region: Region) -> list[dict[str, Any]]:
        """The region and every rule going with it (so the loader keeps them deleted)."""
        changes = [
            {
                "action": "deleted",
                "kind": "region",
                "code": region.code,
                "region_code": region.code,
                "before": _region_snap(region),
                "after": None,
            }
        ]
        for kind, model in RULE_MODELS.items():
            for rule in model.objects.filter(region=region):
                changes.append(
                    self._change("deleted", kind, rule, region, rule_snapshot(rule, kind), None)
                )
        return changes

    @staticmethod
    def _change(
        action: str, kind: str, obj: Any, region: Region, before: Any, after: Any
    ) -> dict[str, Any]:
        code = f"{region.code}:{obj.date.isoformat()}" if kind == "holiday" else obj.code
        return {
            "action": action,
            "kind": kind,
            "code": code,
            "region_code": region.code,
            "before": before,
            "after": after,
        }

    def _audit(self, request: HttpRequest, changes: list[dict[str, Any]]) -> None:
        rule_change_record(changes=changes, actor=_actor(request), user_id=request.user.pk)

    # The cases page.

    @admin.action(description="Run a cases file against the rules of the selected regions")
    def run_cases(self, request: HttpRequest, queryset: QuerySet[Region]) -> HttpResponse:
        codes = ",".join(queryset.order_by("code").values_list("code", flat=True))
        return HttpResponseRedirect(
            f"{reverse('admin:compliance_region_run_cases')}?regions={codes}"
        )

    def get_urls(self):
        return [
            path(
                "run-cases/",
                self.admin_site.admin_view(self.run_cases_view),
                name="compliance_region_run_cases",
            ),
            *super().get_urls(),
        ]

    def run_cases_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a cases file (and/or pick the shipped cases) and show every case's result."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        # Only region codes: they name the shipped case files to read.
        codes = [
            c for c in (request.GET.get("regions") or "").split(",") if REGION_CODE_RE.match(c)
        ]
        posted = request.method == "POST"
        form = CasesRunForm(request.POST if posted else None, request.FILES if posted else None)
        run = None
        if posted and form.is_valid():
            parsed: list = []
            if form.cleaned_data.get("file"):
                parsed += [("upload", n, item) for n, item in packs.cases_parse(form.text)]
            if form.cleaned_data.get("shipped"):
                for code in codes:
                    shipped = packs.CASES_DIR / f"{code}.jsonl"
                    if shipped.exists():
                        parsed += [(shipped.name, n, i) for n, i in packs.cases_read(shipped)]
            run = cases_run([(n, item) for _, n, item in parsed])
            for (source, _, item), line in zip(parsed, run.lines, strict=True):
                line["source"] = source
                line["case"] = item if isinstance(item, packs.Case) else None
            level = messages.SUCCESS if not (run.failed or run.malformed) else messages.WARNING
            self.message_user(
                request,
                f"{run.passed} passed, {run.failed} failed, {run.malformed} malformed.",
                level=level,
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Run a cases file against the rules",
            "form": form,
            "run": run,
            "regions": codes,
            "changelist_url": reverse("admin:compliance_region_changelist"),
        }
        return render(request, "admin/compliance/region/run_cases.html", context)


# --- Audit trails and the ledger --------------------------------------------------------------


@admin.register(RuleChange)
class RuleChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "kind", "code", "region_code"]
    list_filter = ["action", "kind", "region_code"]
    search_fields = ["code", "region_code", "actor"]


@admin.register(ComplianceDecision)
class ComplianceDecisionAdmin(CreditorScopedAdmin, ReadOnlyAdmin):
    creditor_path = "debtor__creditor"
    list_display = [
        "created_at",
        "debtor",
        "account",
        "channel",
        "local_time",
        "allowed",
        "purpose",
    ]
    list_filter = [
        OutcomeFilter,
        "channel",
        "purpose",
        "region",
        "debtor__creditor",
        RuleKindFilter,
        ReasonCodeFilter,
    ]
    search_fields = ["debtor__external_ref", "account__external_ref"]
    list_select_related = ["debtor", "account"]


@admin.register(ContactAttempt)
class ContactAttemptAdmin(CreditorScopedAdmin, admin.ModelAdmin):
    creditor_path = "debtor__creditor"
    """The ledger. Operators log a call here; the row is written by ``contact_record``."""

    list_display = ["at", "debtor", "account", "channel", "outcome", "source"]
    list_filter = ["channel", "outcome", "source"]
    search_fields = ["debtor__external_ref", "account__external_ref", "reference"]
    list_select_related = ["debtor", "account"]
    raw_id_fields = ["debtor", "account"]
    form = ContactLogForm
    fields = ["debtor", "account", "channel", "at", "outcome"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the ledger is evidence

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ContactAttempt, form, change: bool) -> None:
        saved = contact_record(
            debtor=obj.debtor,
            account=obj.account,
            channel=obj.channel,
            at=obj.at,
            outcome=obj.outcome,
            source="operator",
            timeline=True,
            actor=_actor(request),
        )
        obj.pk = saved.pk
