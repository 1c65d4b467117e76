"""Creditor users and the merge of Wagtail's tags (docs/creditor-users.md): django-taggit's
"Merge selected tags" page in the Django admin merges tags every creditor's documents and
images share. Creditor users neither see it nor open it; agency staff who may change tags
merge them (`accounts/admin_tags.py`)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from taggit.models import Tag
from wagtail.documents.models import Document

from accounts.tests.factories import creditor_user, staff_client

pytestmark = pytest.mark.django_db

MERGE = reverse("admin:taggit_tag_merge_tags")
TAGS = reverse("admin:taggit_tag_changelist")


@pytest.fixture
def tagged(isolated):
    """Two documents, tagged "invoice" and "invoices"."""
    documents = []
    for n, tag in enumerate(["invoice", "invoices"]):
        document = Document.objects.create(
            title=f"Letter {n}", file=SimpleUploadedFile(f"letter{n}.txt", b"text")
        )
        document.tags.add(tag)
        documents.append(document)
    return documents


def _chosen(client, *tags: Tag) -> None:
    """Put `tags` in the session as the list's "Merge selected tags" action does."""
    session = client.session
    session["selected_tag_ids"] = ",".join(str(tag.pk) for tag in tags)
    session.save()


def _tags(document: Document) -> list[str]:
    return [tag.name for tag in Document.objects.get(pk=document.pk).tags.all()]


@pytest.mark.parametrize("everything", [False, True], ids=["role", "every-permission-given"])
def test_a_creditor_user_can_neither_find_nor_open_nor_use_the_merge_of_tags(
    tagged, creditor, everything
):
    client, _ = creditor_user(creditor, everything=everything)
    invoice, invoices = Tag.objects.order_by("name")
    assert TAGS not in client.get(reverse("admin:index")).content.decode()
    assert client.get(TAGS).status_code == 403
    chosen = {"action": "render_tag_form", "_selected_action": [invoice.pk, invoices.pk]}
    assert client.post(TAGS, chosen).status_code == 403
    _chosen(client, invoice, invoices)
    assert client.get(MERGE).status_code == 403
    assert client.post(MERGE, {"new_tag_name": "billing"}).status_code == 403
    assert not Tag.objects.filter(name="billing").exists()
    assert [_tags(d) for d in tagged] == [["invoice"], ["invoices"]]


def test_agency_staff_without_the_permission_to_change_tags_cannot_merge_them(tagged):
    client = staff_client(agency=True)  # may view tags
    assert client.get(TAGS).status_code == 200
    _chosen(client, *Tag.objects.all())
    assert client.get(MERGE).status_code == 403
    assert client.post(MERGE, {"new_tag_name": "billing"}).status_code == 403
    assert [_tags(d) for d in tagged] == [["invoice"], ["invoices"]]


def test_agency_staff_who_may_change_tags_merge_them_from_the_list(tagged):
    client = staff_client(agency=True, extra=("change_tag",))
    invoice, invoices = Tag.objects.order_by("name")
    chosen = {"action": "render_tag_form", "_selected_action": [invoice.pk, invoices.pk]}
    response = client.post(f"{TAGS}?q=inv", chosen)
    assert (response.status_code, response["Location"]) == (302, MERGE)
    assert client.get(MERGE).status_code == 200
    merged = client.post(MERGE, {"new_tag_name": "billing"})
    assert merged.status_code == 302
    assert [_tags(d) for d in tagged] == [["billing"], ["billing"]]


def test_a_merge_without_tags_chosen_goes_back_to_the_list_with_a_message(tagged):
    client = staff_client(agency=True, extra=("change_tag",))
    for chosen in ([], [Tag(pk=10**6)]):  # nothing chosen; a tag deleted since
        _chosen(client, *chosen)
        response = client.post(MERGE, {"new_tag_name": "billing"}, follow=True)
        assert response.redirect_chain == [(TAGS, 302)]
        assert "Select the tags to merge" in response.content.decode()
    assert not Tag.objects.filter(name="billing").exists()
