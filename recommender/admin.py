"""Django admin for the recommender (operators at /django-admin/).

- Model versions: metrics, status, and the actions *retrain now*, *promote* and *roll back*
  (all through `recommender.services`); the uplift report page hangs off this admin.
- Typologies and decisions: read-only.
- The debtor's page (accounts' `DebtorAdmin`) gains two read-only inlines, the typology and
  the recommender's recent decisions with their explanations, by subclassing the registered
  admin class (accounts stays unaware of the recommender).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.admin import ReadOnlyAdmin
from accounts.models import Debtor, DomainError
from accounts.tenancy import CreditorScopedAdmin, is_agency_staff
from recommender import evaluation, selectors, services
from recommender import features as F
from recommender.models import DebtorTypology, Decision, ModelVersion


def _pretty(value: Any) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2))


def _difference(model: ModelVersion, key: str) -> str:
    """A stored off-policy comparison (`metrics[key]`) as "difference [lower, upper]"."""
    return evaluation.difference_text((model.metrics or {}).get(key))


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "label", "status", "trained_at", "rows_used", "feature_version", "value",
        "uplift_vs_random", "vs_live", "test_power", "promoted_at",
    ]  # fmt: skip
    list_filter = ["status", "feature_version"]
    exclude = ["artifact"]
    readonly_fields = [
        "label", "status", "status_reason", "feature_version", "n_actions", "n_features",
        "trained_at", "rows_used", "data_from", "data_until", "artifact_sha256", "created_by",
        "promoted_at", "retired_at", "metrics_pretty",
    ]  # fmt: skip
    actions = ["retrain_now", "promote_selected", "roll_back"]
    change_list_template = "admin/recommender/modelversion/change_list.html"

    def get_queryset(self, request: HttpRequest):
        # The artifact (a policy archive) is shown nowhere: not read for the list or the page.
        return super().get_queryset(request).defer("artifact")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="off-policy value")
    def value(self, obj: ModelVersion) -> str:
        v = (obj.metrics or {}).get("value")
        return "-" if v is None else f"{v:.4f}"

    @admin.display(description="vs random")
    def uplift_vs_random(self, obj: ModelVersion) -> str:
        return _difference(obj, "vs_random")

    @admin.display(description="vs live")
    def vs_live(self, obj: ModelVersion) -> str:
        return _difference(obj, "vs_live")

    @admin.display(description="test power vs live")
    def test_power(self, obj: ModelVersion) -> str:
        return evaluation.promotion_power_text(obj.metrics)

    @admin.display(description="metrics")
    def metrics_pretty(self, obj: ModelVersion) -> str:
        shown = {k: v for k, v in (obj.metrics or {}).items() if k != "context_summary"}
        return _pretty(shown)

    @admin.action(description="Retrain now (from the decision logs)", permissions=["change"])
    def retrain_now(self, request: HttpRequest, queryset) -> None:
        from django_q.tasks import async_task

        actor = f"admin:{request.user.pk}"
        # An operator asking now is not made to wait for the logs to grow, as the nightly run is.
        transaction.on_commit(
            lambda: async_task("recommender.tasks.model_retrain_task", actor, False)
        )
        self.message_user(request, "Retraining queued; the new model appears here when done.")

    @admin.action(description="Promote the selected model to live", permissions=["change"])
    def promote_selected(self, request: HttpRequest, queryset) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model.", level=messages.WARNING)
            return
        try:
            model = services.model_promote(
                model=queryset.get(), actor=f"admin:{request.user.pk}", reason="Operator."
            )
        except DomainError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return
        self.message_user(request, f"{model.label} is live.")

    @admin.action(description="Roll back to the previously live model", permissions=["change"])
    def roll_back(self, request: HttpRequest, queryset) -> None:
        try:
            model = services.model_rollback(actor=f"admin:{request.user.pk}")
        except DomainError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return
        self.message_user(request, f"Rolled back: {model.label} is live again.")

    def get_urls(self):
        return [
            path(
                "uplift/",
                self.admin_site.admin_view(self.uplift_view),
                name="recommender_uplift_report",
            ),
            *super().get_urls(),
        ]

    def uplift_view(self, request: HttpRequest) -> HttpResponse:
        """Per-arm rates with intervals, relative uplift and the live model's off-policy value.

        Figures over every creditor's messages: agency staff only."""
        if not self.has_view_permission(request) or not is_agency_staff(request.user):
            raise PermissionDenied
        report = selectors.uplift_report(for_display=True)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Recommender: uplift against the random control",
            "report": report,
            "report_json": json.dumps(report, indent=2),
            "changelist_url": reverse("admin:recommender_modelversion_changelist"),
        }
        return render(request, "admin/recommender/uplift.html", context)


@admin.register(DebtorTypology)
class DebtorTypologyAdmin(CreditorScopedAdmin, ReadOnlyAdmin):
    creditor_path = "debtor__creditor"
    list_display = ["debtor", "code", "willing", "able", "organised", "emotional", "confidence"]
    list_filter = ["code"]
    search_fields = ["debtor__external_ref"]
    list_select_related = ["debtor"]


def _archetype(obj: Decision) -> str:
    return F.ACTIONS[obj.action].label if obj.action < F.N_ACTIONS else str(obj.action)


@admin.register(Decision)
class DecisionAdmin(CreditorScopedAdmin, ReadOnlyAdmin):
    creditor_path = "debtor__creditor"
    list_display = [
        "decided_at", "debtor", "stage", "arm", "archetype", "propensity", "model_label",
    ]  # fmt: skip
    list_filter = ["arm", "stage", "feature_version"]
    search_fields = ["debtor__external_ref", "account__external_ref"]
    list_select_related = ["debtor", "model_version"]
    exclude = ["context", "eligible"]

    @admin.display(description="kind of message")
    def archetype(self, obj: Decision) -> str:
        return _archetype(obj)

    @admin.display(description="model")
    def model_label(self, obj: Decision) -> str:
        return obj.model_version.label if obj.model_version else "(none)"


# --- the debtor's page ------------------------------------------------------------------------


def debtor_panel(debtor_id: int, *, limit: int = 20) -> dict[str, Any]:
    """What the debtor's admin page shows from the recommender: typology, latest decisions."""
    typology = DebtorTypology.objects.filter(debtor_id=debtor_id).first()
    decisions = [
        {
            "decided_at": d.decided_at,
            "stage": d.stage,
            "arm": d.arm,
            "kind": _archetype(d),
            "propensity": d.propensity,
            "model": d.model_version.label if d.model_version else "(none)",
            "message_id": d.message_id,
            "why": (d.message.explanation or {}).get("why", ""),
        }
        for d in Decision.objects.filter(debtor_id=debtor_id)
        .select_related("message", "model_version")
        .order_by("-decided_at", "-id")[:limit]
    ]
    return {"typology": typology, "decisions": decisions}


def _extend_debtor_admin() -> None:
    """Show the typology and the recommender's decisions on the debtor's admin page.

    Subclasses whatever admin class accounts registered for Debtor and adds read-only panels
    below its inlines (template block `after_related_objects`) through `change_view`'s extra
    context: no formsets, so the page's form and its POST stay exactly as accounts made them.
    """
    base = type(admin.site.get_model_admin(Debtor))
    if getattr(base, "recommender_extended", False):
        return
    base_template = base.change_form_template or "admin/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        if object_id and str(object_id).isdigit():
            extra["recommender"] = debtor_panel(int(object_id))
        extra["recommender_base_template"] = base_template
        return base.change_view(self, request, object_id, form_url, extra)

    extended = type(
        base.__name__,
        (base,),
        {
            "__module__": base.__module__,
            "change_form_template": "admin/recommender/debtor_change_form.html",
            # The add page has no typology or decisions: it keeps the base's template (the
            # recommender's reads context that only `change_view` gives).
            "add_form_template": base.add_form_template or base_template,
            "change_view": change_view,
            "recommender_extended": True,
        },
    )
    admin.site.unregister(Debtor)
    admin.site.register(Debtor, extended)


_extend_debtor_admin()
