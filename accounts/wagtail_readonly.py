"""A Wagtail `ModelViewSet` that only reads: a list and an inspect page per row, and nothing
that adds, edits, deletes, copies or shows history or usage. Used by the outbox and the
casework lists, whose rows change only through their apps' services."""

from __future__ import annotations

from django.contrib.auth import get_permission_codename
from django.urls import path, reverse
from wagtail.admin.admin_url_finder import ModelAdminURLFinder
from wagtail.permissions import policy_registry


class ReadOnlyViewSetMixin:
    """Mix in before `ModelViewSet`. Only "view" is offered in group settings, and a row's
    admin URL (search results, reference links) is its inspect page, for users who may view."""

    copy_view_enabled = False
    inspect_view_enabled = True

    def get_urlpatterns(self):
        conv = self.pk_path_converter
        return [
            path("", self.index_view, name="index"),
            path("results/", self.index_results_view, name="index_results"),
            path(f"<{conv}:pk>/", self.inspect_view, name="inspect"),
        ]

    def get_common_view_kwargs(self, **kwargs):
        view_kwargs = super().get_common_view_kwargs(**kwargs)
        for name in ("add", "edit", "delete", "history", "usage"):
            view_kwargs[f"{name}_url_name"] = None
        return view_kwargs

    def get_permissions_to_register(self):
        return (
            super()
            .get_permissions_to_register()
            .filter(codename=get_permission_codename("view", self.model_opts))
        )

    @property
    def url_finder_class(self):
        inspect = self.get_url_name("inspect")

        class InspectURLFinder(ModelAdminURLFinder):
            def construct_edit_url(self, instance):
                return reverse(inspect, args=[instance.pk])

            def get_edit_url(self, instance):
                policy = policy_registry.get(instance)
                if self.user and not policy.user_has_permission(self.user, "view"):
                    return None
                return self.construct_edit_url(instance)

        return InspectURLFinder
