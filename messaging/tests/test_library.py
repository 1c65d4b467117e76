"""The message library in Wagtail: validation at save, approval workflow, preview, listing."""

import pytest
from django.urls import reverse

from messaging import selectors, services
from messaging.models import MessageVariant, Tone

pytestmark = pytest.mark.django_db

NS = "wagtailsnippets_messaging_messagevariant"


def _form(**overrides):
    data = {
        "name": "Friendly reminder",
        "channel": "sms",
        "language": "en",
        "tone": Tone.objects.get(slug="friendly").pk,
        "cta": "pay_in_full",
        "stages": ["early"],
        "regions": "US, GB",
        "email_subject": "",
        "email_body": "",
        "sms_text": "Hi {{ first_name }}, please pay {{ balance }}: {{ portal_link }}",
        "letter_body": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_editor_saves_a_valid_draft_through_the_admin(admin_client):
    response = admin_client.post(reverse(f"{NS}:add"), _form())
    assert response.status_code == 302, response.content[:2000]
    variant = MessageVariant.objects.get(name="Friendly reminder")
    assert variant.regions == ["US", "GB"] and variant.stages == ["early"]
    assert not variant.live  # a draft until approved


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sms_text", "Hi {{ firstname }}", "Unknown placeholder {{ firstname }}"),
        ("sms_text", "{% if balance %}pay{% endif %}", "Template syntax"),
        ("sms_text", "{{ balance|floatformat }}", "not a placeholder"),
        ("sms_text", "", "A SMS message needs SMS / WhatsApp text"),
        ("regions", "US, XX-NOPE", "Unknown region codes: XX-NOPE"),
    ],
)
def test_bad_template_input_is_refused_at_save_with_a_clear_form_error(
    admin_client, field, value, message
):
    response = admin_client.post(reverse(f"{NS}:add"), _form(**{field: value}))
    assert response.status_code == 200  # the form again, never a 500
    assert message in response.content.decode()
    assert not MessageVariant.objects.exists()


def test_bad_template_is_refused_when_editing_a_live_variant_too(admin_client, make_variant):
    variant = make_variant("sms")
    response = admin_client.post(
        reverse(f"{NS}:edit", args=[variant.pk]),
        _form(name=variant.name, sms_text="Hello {{ first_name }} {{ ssn }}"),
    )
    assert response.status_code == 200
    assert "Unknown placeholder {{ ssn }}" in response.content.decode()
    variant.refresh_from_db()
    assert (
        "ssn" not in variant.sms_text and "ssn" not in variant.latest_revision.content["sms_text"]
    )


def test_content_editors_cannot_publish_only_compliance_reviewers_can(editor, reviewer):
    assert not editor.has_perm("messaging.publish_messagevariant")
    assert editor.has_perm("messaging.change_messagevariant")
    assert reviewer.has_perm("messaging.publish_messagevariant")


def test_a_variant_goes_live_only_when_a_reviewer_approves_the_workflow(
    make_variant, editor, reviewer
):
    variant = make_variant("sms", live=False)
    workflow = variant.get_workflow()
    assert workflow is not None and workflow.name == "Compliance approval"
    state = workflow.start(variant, editor)
    variant.refresh_from_db()
    assert not variant.live
    assert selectors.variants_eligible(stage="early", language="en", region="US-MA") == []
    task = state.current_task_state.specific
    assert not task.task.specific.user_can_access_editor(variant, editor)
    task.approve(user=reviewer)
    variant.refresh_from_db()
    assert variant.live and variant.live_revision_id
    assert selectors.variants_eligible(stage="early", language="en", region="US-MA") == [variant]


def test_only_live_variants_can_be_sent(make_variant, place_one):
    draft = make_variant("sms", live=False)
    with pytest.raises(services.MessageRefused, match="not live"):
        services.message_send(account=place_one(), variant=draft)


def test_eligibility_matches_stage_language_region_tags_and_channel(make_variant):
    us = make_variant("sms", name="us", regions=["US"], stages=["early", "mid"])
    make_variant("sms", name="gb", regions=["GB"])
    anywhere = make_variant("email", name="any")
    french = make_variant("sms", name="fr", language="fr")
    found = selectors.variants_eligible(stage="early", language="en", region="US-MA")
    assert {v.name for v in found} == {"us", "any"}
    assert selectors.variants_eligible(
        stage="early", language="en", region="US-MA", channels=["email"]
    ) == [anywhere]
    assert selectors.variants_eligible(stage="mid", language="en", region="US") == [us]
    assert selectors.variants_eligible(stage="early", language="fr", region="CA-QC") == [french]


def test_a_security_notice_is_never_planned_as_a_collection_message(make_variant):
    make_variant("email", name="locked notice", cta="portal_locked", stages=["early"])
    collection = make_variant("email", name="first contact")
    found = selectors.variants_eligible(stage="early", language="en", region="US-MA")
    assert found == [collection]


def test_preview_shows_each_tagged_region_with_its_disclosures_and_segments(
    admin_client, make_variant
):
    variant = make_variant("sms", regions=["US-MA", "DE"])
    url = reverse(f"{NS}:preview_on_edit", args=[variant.pk])
    data = _form(name=variant.name, regions="US-MA, DE")
    assert admin_client.post(url, data).status_code == 200
    html = admin_client.get(url).content.decode()
    assert "(US-MA)" in html and "(DE)" in html
    # The US debt-collector notice and the SMS opt-out text are appended, not authored.
    assert "This communication is from a debt collector." in html
    assert "Reply STOP to stop text messages about this debt." in html
    assert "US.mini_miranda" in html
    assert "segments (" in html and "GSM-7" in html


def test_preview_of_invalid_content_shows_the_problem_not_an_error_page(make_variant):
    from messaging.previews import variant_previews

    variant = make_variant("sms")
    variant.sms_text = "Hi {{ nope }}"  # as if the stored draft were bad
    previews = variant_previews(variant=variant)
    assert previews and "Unknown placeholder {{ nope }}" in previews[0]["first"]["errors"][0]


def test_a_letters_preview_shows_the_qr_code_it_prints_beside_its_portal_link(make_variant):
    from django.template.loader import render_to_string

    from messaging.previews import variant_previews

    body = "Sehr geehrte(r) {{ last_name }},\n\nBitte zahlen Sie hier: {{ portal_link }}"
    letter = make_variant("letter", language="de", regions=["DE"], letter_body=body)
    (preview,) = variant_previews(variant=letter)
    assert preview["first"]["portal_qr"].startswith('<svg viewBox="0 0 ')
    html = render_to_string("messaging/preview.html", {"variant": letter})
    assert str(preview["first"]["portal_qr"]) in html
    assert "Scannen Sie diesen Code mit der Kamera Ihres Telefons" in html
    # The typed form as the letter prints it, with a sample letter code.
    assert preview["first"]["portal_code"] == "K3M9-TTQ4-ZZ7A-B2CD"
    assert 'den Code <b class="code">K3M9-TTQ4-ZZ7A-B2CD</b> ein' in html
    plain = make_variant("letter", name="no link")  # "Please pay {{ balance }}."
    assert variant_previews(variant=plain)[0]["first"]["portal_qr"] is None


def test_listing_filters_by_stage_region_channel_tone_cta_and_language(admin_client, make_variant):
    make_variant("sms", name="Alpha", stages=["late"], regions=["US"])
    make_variant("email", name="Bravo", stages=["early"], regions=["GB"], tone="firm")
    make_variant("sms", name="Charlie", stages=["early"], language="de")
    url = reverse(f"{NS}:list")

    def names(**params):
        body = admin_client.get(url, params).content.decode()
        return {n for n in ("Alpha", "Bravo", "Charlie") if n in body}

    assert names() == {"Alpha", "Bravo", "Charlie"}
    assert names(stage="late") == {"Alpha"}
    assert names(region="US-MA") == {"Alpha", "Charlie"}  # US covers US-MA; untagged = any
    assert names(channel="email") == {"Bravo"}
    assert names(tone=Tone.objects.get(slug="firm").pk) == {"Bravo"}
    assert names(language="de") == {"Charlie"}
    assert names(cta="payment_plan") == set()


def test_a_content_editor_can_draft_and_submit_but_is_offered_no_publish_button(client, editor):
    client.force_login(editor)
    assert client.get(reverse(f"{NS}:list")).status_code == 200
    add_page = client.get(reverse(f"{NS}:add")).content.decode()
    assert 'name="action-submit"' in add_page and 'name="action-publish"' not in add_page
    response = client.post(reverse(f"{NS}:add"), {**_form(), "action-submit": "1"})
    assert response.status_code == 302
    variant = MessageVariant.objects.get(name="Friendly reminder")
    assert not variant.live  # waiting for a compliance reviewer
    state = variant.current_workflow_state
    assert state is not None and state.status == "in_progress"
    assert state.current_task_state.task.name == "Compliance review"
