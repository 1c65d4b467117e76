"""Choosers show a posted id they cannot read as nothing chosen (`accounts.admin_widgets`),
and every other value as Django and Wagtail do."""

import pytest
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from wagtail.snippets.widgets import AdminSnippetChooser

from accounts.models import CreditorUser
from accounts.tests.factories import UserFactory
from messaging.models import Tone

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    return client


def _autocomplete() -> AutocompleteSelect:
    """The widget as the admin builds it for the creditor's users inline, with its choices."""
    db_field = CreditorUser._meta.get_field("user")
    return db_field.formfield(widget=AutocompleteSelect(db_field, admin.site)).widget


def _selected(widget: AutocompleteSelect, value: list) -> list:
    groups = widget.optgroups("user", value)
    return [option["value"] for _group, options, _i in groups for option in options
            if option["selected"]]  # fmt: skip


def test_the_admin_autocomplete_shows_a_known_id_chosen_and_an_unreadable_one_as_none():
    user = UserFactory(username="api-user")
    assert _selected(_autocomplete(), [str(user.pk)]) == [user.pk]
    assert _selected(_autocomplete(), [str(user.pk + 1000)]) == []  # no such user: as Django
    for posted in ("abc", "9" * 30, "1.5"):
        assert _selected(_autocomplete(), [posted]) == []


def test_a_wagtail_chooser_finds_a_known_id_and_reads_an_unreadable_one_as_none():
    tone = Tone.objects.create(name="Plain", slug="plain")
    chooser = AdminSnippetChooser(Tone)
    assert chooser.get_instance(tone.pk) == tone
    assert chooser.get_instance(str(tone.pk)) == tone
    assert chooser.get_instance(tone) == tone
    assert chooser.get_instance(None) is None
    assert chooser.get_instance(tone.pk + 1000) is None  # no such tone: as Wagtail
    for posted in ("abc", "9" * 30, "1.5"):
        assert chooser.get_instance(posted) is None


def test_a_variant_posted_with_an_unreadable_tone_gets_the_form_back_with_the_error(ops):
    url = "/admin/snippets/messaging/messagevariant/add/"
    response = ops.post(url, {"title": "Reminder", "tone": "abc"})
    assert response.status_code == 200
    assert "Select a valid choice" in str(response.context["form"].errors["tone"])


def test_a_creditor_posted_with_an_unreadable_user_gets_the_form_back_with_the_error(ops, creditor):
    url = f"/django-admin/accounts/creditor/{creditor.pk}/change/"
    form = ops.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({
        "users-TOTAL_FORMS": "1", "users-INITIAL_FORMS": "0", "users-MIN_NUM_FORMS": "0",
        "users-MAX_NUM_FORMS": "1000", "users-0-user": "abc", "users-0-creditor": creditor.pk,
    })  # fmt: skip
    response = ops.post(url, data)
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "Select a valid choice" in str(formset.forms[0].errors["user"])
