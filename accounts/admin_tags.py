"""The Django admin's page for Wagtail's tags (django-taggit's `TagAdmin`), with its "Merge
selected tags" page behind the permission to change tags.

django-taggit wraps its merge page in `admin_site.admin_view` alone, which lets in any active
staff user: a creditor user, who may not even see the tag list, could open the page by its URL
and merge the platform's tags (those of Wagtail's images and documents, shared by every
creditor). Here the page and the action that leads to it need `taggit.change_tag`, which the
creditor-user role never holds (`accounts.roles`), and a merge without a valid selection of
tags goes back to the list with a message instead of failing.

Registered again over django-taggit's own when `accounts.admin` is loaded (before
`taggit.admin` would be, in `INSTALLED_APPS` order: it is imported here first).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from taggit import admin as taggit_admin
from taggit.models import Tag

NO_SELECTION = "Select the tags to merge in the list of tags first."


class TagAdmin(taggit_admin.TagAdmin):
    """django-taggit's tag admin; merging tags needs the permission to change them."""

    @admin.action(description="Merge selected tags", permissions=["change"])
    def render_tag_form(self, request: HttpRequest, queryset: QuerySet[Tag]) -> HttpResponse:
        # The chosen tags are kept in the session for the merge page, as django-taggit does;
        # the page's URL by name, so a filtered list's query string does not end up in it.
        ids = queryset.values_list("pk", flat=True)
        request.session["selected_tag_ids"] = ",".join(map(str, ids))
        return redirect("admin:taggit_tag_merge_tags")

    def merge_tags_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        ids = [i for i in request.session.get("selected_tag_ids", "").split(",") if i]
        if (
            not ids
            or not all(i.isascii() and i.isdigit() for i in ids)
            or Tag.objects.filter(pk__in=ids).count() != len(set(ids))
        ):
            # No selection in this session, or a tag deleted since: django-taggit would fail.
            request.session.pop("selected_tag_ids", None)
            self.message_user(request, NO_SELECTION, messages.ERROR)
            return redirect("admin:taggit_tag_changelist")
        return super().merge_tags_view(request)


admin.site.unregister(Tag)
admin.site.register(Tag, TagAdmin)
