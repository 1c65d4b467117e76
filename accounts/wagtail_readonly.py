"""Wagtail admin pieces for rows that change only through their apps' services: a
`ModelViewSet` with a list and an inspect page per row and nothing that adds, edits,
deletes, copies or shows history or usage (`ListAndInspectViewSetMixin`; the work queues,
whose inspect pages also take the item's actions), the same offering only "view"
(`ReadOnlyViewSetMixin`; the outbox and the casework lists), and the permission policy
that lets staff look and nobody change anything (`ViewOnlyPermissionPolicy`)."""

from __future__ import annotations

from django.contrib.auth import get_permission_codename, get_user_model
from django.urls import path, reverse
from wagtail.admin.admin_url_finder import ModelAdminURLFinder
from wagtail.permission_policies import ModelPermissionPolicy
from wagtail.permissions import policy_registry

# The only action on read-only pages is looking.
_READ_ACTIONS = frozenset({"view"})


class ViewOnlyPermissionPolicy(ModelPermissionPolicy):
    """Active staff with the model's `view_` permission may look; adding, changing and
    deleting are refused to everyone, superusers included."""

    def user_has_permission(self, user, action: str) -> bool:
        if action not in _READ_ACTIONS:
            return False
        return bool(
            user.is_active and user.is_staff and user.has_perm(self._get_permission_name(action))
        )

    def users_with_any_permission(self, actions):
        actions = [a for a in actions if a in _READ_ACTIONS]
        if not actions:
            return get_user_model().objects.none()
        return super().users_with_any_permission(actions).filter(is_active=True, is_staff=True)


class ListAndInspectViewSetMixin:
    """Mix in before `ModelViewSet`: the list (and its results fragment) and an inspect page
    per row are the only URLs; no add, edit, delete, copy, history or usage views or links."""

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


class ReadOnlyViewSetMixin(ListAndInspectViewSetMixin):
    """Mix in before `ModelViewSet`. Only "view" is offered in group settings, and a row's
    admin URL (search results, reference links) is its inspect page, for users who may view."""

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
