"""The outbox in the Wagtail admin: the listing, and each message as its recipient received it,
rebuilt by the dispatch code, shown without firing any tracking, to staff allowed to see it."""

import html as htmllib
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from accounts.models import Activity
from compliance.models import DisclosureRule
from compliance.selectors import rules_cache_reset
from messaging import services
from messaging.as_sent import inert_html, mask_recipient
from messaging.models import Message, MessageEvent, MessageStatus

pytestmark = pytest.mark.django_db

INDEX = "messaging_outbox:index"
INSPECT = "messaging_outbox:inspect"


def _sent(clock, make_variant, place_one, channel: str) -> Message:
    message = services.message_send(
        account=place_one(), variant=make_variant(channel), planned_at=clock.now
    )
    assert message.status == MessageStatus.PLANNED, message.status_reason
    assert services.dispatch_due().sent == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    return message


def _srcdoc(page: str) -> str:
    frame = re.search(r"<iframe ([^>]*)>", page)
    assert frame, "no iframe on the page"
    attrs = frame.group(1)
    assert re.search(r'\bsandbox=""', attrs), attrs  # no allow-same-origin, no scripts
    return htmllib.unescape(re.search(r'srcdoc="([^"]*)"', attrs).group(1))


def _pres(page: str) -> list[str]:
    """The unescaped contents of the page's <pre> blocks (text part, sources, JSON)."""
    return [htmllib.unescape(p) for p in re.findall(r"<pre[^>]*>(.*?)</pre>", page, re.DOTALL)]


def test_the_index_lists_messages_and_filters_by_channel(
    admin_client, clock, make_variant, place_one
):
    email = _sent(clock, make_variant, place_one, "email")
    sms = _sent(clock, make_variant, place_one, "sms")
    page = admin_client.get(reverse(INDEX))
    assert page.status_code == 200
    body = page.content.decode()
    for message in (email, sms):
        assert reverse(INSPECT, args=[message.pk]) in body
        assert message.account.external_ref in body
    # Recipients are shortened in the listing; the full address is on the message's page.
    assert "ad…@example.com" in body and email.recipient not in body
    only_sms = admin_client.get(reverse(INDEX), {"channel": "sms"}).content.decode()
    assert reverse(INSPECT, args=[sms.pk]) in only_sms
    assert reverse(INSPECT, args=[email.pk]) not in only_sms
    filtered = admin_client.get(
        reverse(INDEX),
        {"status": "sent", "arm": "policy", "language": "en", "creditor": email.creditor_id},
    ).content.decode()
    assert reverse(INSPECT, args=[email.pk]) in filtered
    assert admin_client.get(reverse(INDEX), {"arm": "control"}).status_code == 200
    # Nothing to add, edit or delete.
    assert "Add message" not in body
    search = admin_client.get(reverse(INDEX), {"q": email.account.external_ref}).content.decode()
    assert reverse(INSPECT, args=[email.pk]) in search
    assert reverse(INSPECT, args=[sms.pk]) not in search


def test_an_email_shows_its_envelope_and_the_html_that_was_sent_in_a_sandboxed_frame(
    admin_client, clock, make_variant, place_one
):
    message = _sent(clock, make_variant, place_one, "email")
    (sent,) = [m for m in mail.outbox if m.to == [message.recipient]]
    sent_html = next(body for body, kind in sent.alternatives if kind == "text/html")
    page = admin_client.get(reverse(INSPECT, args=[message.pk]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Your Acme Energy Ltd balance" in body  # the subject
    assert htmllib.escape(sent.from_email) in body and message.recipient in body
    assert "List-Unsubscribe-Post" in body
    # The text part and the raw HTML are the ones the mail backend was given.
    assert sent.body in _pres(body) and sent_html in _pres(body)
    # The HTML is shown as text and framed, never run as part of the admin page.
    assert 'src="http://localhost:8000/m/o/' not in body
    assert "<table role=" not in body
    srcdoc = _srcdoc(body)
    assert "This communication is from a debt collector." in srcdoc
    assert srcdoc == inert_html(sent_html, message)
    # The framed copy can load nothing and follow no tracking link (the links' addresses stay
    # visible as text, as the debtor saw them).
    assert "Content-Security-Policy" in srcdoc and "img-src data:" in srcdoc
    urls = re.findall(r"""(?:href|src)=["']([^"']*)""", srcdoc)
    inert = ("#", "about:srcdoc")
    assert urls and all(url in inert or url.startswith("data:") for url in urls), urls
    assert '<base href="about:srcdoc">' in srcdoc  # "#" stays inside the frame
    assert "/m/o/" not in srcdoc  # the open pixel was only ever a `src`
    shown = re.findall(r'<a href="#"[^>]*>([^<]*)</a>', srcdoc)
    assert any("/m/c/" in text for text in shown), shown


def test_viewing_a_message_records_no_event_and_no_open(
    admin_client, clock, make_variant, place_one
):
    message = _sent(clock, make_variant, place_one, "email")
    activities = Activity.objects.count()
    for _ in range(2):
        assert admin_client.get(reverse(INSPECT, args=[message.pk])).status_code == 200
    assert admin_client.get(reverse(INDEX)).status_code == 200
    assert not MessageEvent.objects.exists()
    assert Activity.objects.count() == activities
    message.refresh_from_db()
    assert message.opened_at is None and message.clicked_at is None
    assert message.status == MessageStatus.SENT


def test_an_sms_shows_its_text_as_the_phone_does(admin_client, clock, make_variant, place_one):
    message = _sent(clock, make_variant, place_one, "sms")
    body = admin_client.get(reverse(INSPECT, args=[message.pk])).content.decode()
    bubble = re.search(r'data-testid="bubble">(.*?)</div>', body, re.DOTALL).group(1)
    text = htmllib.unescape(bubble)
    assert text.startswith("Hi Ada, $120.50 is due. Pay: http://localhost:8000/m/c/")
    assert "/p/" not in text  # the portal link went out click-tracked
    assert "segment" in body and "GSM-7" in body


def test_a_letter_shows_its_printed_page(admin_client, clock, make_variant, place_one, settings):
    message = _sent(clock, make_variant, place_one, "letter")
    page = settings.MESSAGING_OUTBOX_DIR / "letters" / "2026-03-10" / f"{message.pk}.html"
    body = admin_client.get(reverse(INSPECT, args=[message.pk])).content.decode()
    assert page.read_text() in _pres(body)  # the page source, as filed for printing
    assert '<div class="address">' not in body  # shown as text, not run in the admin page
    srcdoc = _srcdoc(body)
    assert "Dear Ada Lovelace" in srcdoc
    # On screen the page keeps its print margins, so the address sits where the window is.
    assert "html > body { position: relative; margin: 20mm 20mm 25mm 25mm; }" in srcdoc


def test_a_planned_message_shows_what_would_go_out_and_a_blocked_one_why_not(
    admin_client, clock, make_variant, place_one
):
    planned = services.message_send(
        account=place_one(), variant=make_variant("sms"), planned_at=clock.now
    )
    body = admin_client.get(reverse(INSPECT, args=[planned.pk])).content.decode()
    assert "As it would be sent" in body and 'data-testid="bubble"' in body
    DisclosureRule.objects.filter(topic="opt_out_sms").delete()
    rules_cache_reset()
    blocked = services.message_send(
        account=place_one(), variant=make_variant("sms", name="other"), planned_at=clock.now
    )
    assert blocked.status == MessageStatus.BLOCKED and not blocked.body
    body = admin_client.get(reverse(INSPECT, args=[blocked.pk])).content.decode()
    assert "Nothing was rendered for this message" in body
    assert "no opt-out text for sms" in body


def test_times_are_shown_in_the_operators_time_zone(
    admin_client, admin_user, clock, make_variant, place_one
):
    message = _sent(clock, make_variant, place_one, "email")
    user = admin_user
    user.wagtail_userprofile.current_time_zone = "Europe/Paris"
    user.wagtail_userprofile.save()
    body = admin_client.get(reverse(INSPECT, args=[message.pk])).content.decode()
    assert "2026-03-10 16:00:00 CET" in body  # sent 15:00 UTC
    assert "Tue 2026-03-10 11:00 (America/New_York)" in body  # the debtor's clock
    listing = admin_client.get(reverse(INDEX)).content.decode()
    assert "2026-03-10 16:00" in listing and "Europe/Paris" in listing


def test_an_unknown_message_is_404(admin_client):
    assert admin_client.get(reverse(INSPECT, args=[999999])).status_code == 404


def _user(username: str, *, staff: bool, perms=("view_message",)):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw")
    user.is_staff = staff
    user.save()
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="wagtailadmin", codename="access_admin"),
        *Permission.objects.filter(content_type__app_label="messaging", codename__in=perms),
    )
    return user


def test_only_staff_with_the_view_permission_may_look(client, clock, make_variant, place_one):
    message = _sent(clock, make_variant, place_one, "email")
    urls = [reverse(INDEX), reverse(INSPECT, args=[message.pk])]
    client.force_login(_user("outsider", staff=False))
    for url in urls:
        response = client.get(url)
        assert response.status_code in (302, 403, 404), url  # refused, or not found
        assert message.subject.encode() not in response.content
    client.force_login(_user("nosy", staff=True, perms=()))
    for url in urls:
        # Refused, or (bound to no creditor) not found: either way nothing is shown.
        response = client.get(url)
        assert response.status_code in (302, 403, 404), url
        assert message.subject.encode() not in response.content
    operator = _user("operator", staff=True)  # agency staff: every creditor's messages
    operator.user_permissions.add(Permission.objects.get(codename="view_all_creditors"))
    client.force_login(operator)
    for url in urls:
        assert client.get(url).status_code == 200, url
    # Read-only for everyone: there is no page that could change a message.
    page = client.get(urls[1]).content.decode()
    assert "/outbox/edit/" not in page and "/outbox/delete/" not in page


def test_the_django_admin_page_links_to_the_message_as_sent(
    admin_client, clock, make_variant, place_one
):
    message = _sent(clock, make_variant, place_one, "sms")
    url = reverse("admin:messaging_message_change", args=[message.pk])
    body = admin_client.get(url).content.decode()
    assert f'href="{reverse(INSPECT, args=[message.pk])}"' in body
    assert "View as sent" in body


def test_the_django_admin_shows_event_help_texts_as_written(
    admin_client, clock, make_variant, place_one
):
    message = _sent(clock, make_variant, place_one, "sms")
    url = reverse("admin:messaging_message_change", args=[message.pk])
    body = admin_client.get(url).content.decode()
    assert "anymail:&lt;esp&gt;" in body  # the events inline's "source" column, not "anymail:"


def test_the_outbox_sits_in_the_messages_menu(admin_client):
    body = admin_client.get(reverse("wagtailadmin_home")).content.decode()
    props = re.search(r'id="wagtail-sidebar-props"[^>]*>(.*?)</script>', body, re.DOTALL)
    modules = json.loads(props.group(1))["modules"]
    (main,) = [m for m in modules if m["_type"] == "wagtail.sidebar.MainMenuModule"]
    top = {item["_args"][0]["name"]: item for item in main["_args"][0]}
    assert "outbox" not in top
    submenu = {item["_args"][0]["name"]: item["_args"][0] for item in top["messages"]["_args"][1]}
    assert submenu["outbox"]["url"] == reverse(INDEX)


def test_recipients_are_shortened_for_listings():
    assert mask_recipient("email", "ada1@example.com") == "ad…@example.com"
    assert mask_recipient("sms", "+16175550123") == "+1…0123"
    assert mask_recipient("letter", "Ada Lovelace\n1 Main St\n02101 Boston") == "… 02101 Boston"


def test_the_index_filters_by_creation_day_and_by_the_debtors_local_send_time(
    admin_client, clock, make_variant, place_one
):
    """Sent Tuesday 15:00 UTC: 11:00 on Tuesday for a debtor in New York, 16:00 for one
    whose own zone is Paris."""
    boston = _sent(clock, make_variant, place_one, "email")
    paris = services.message_send(
        account=place_one(debtor={"timezone": "Europe/Paris"}),
        variant=boston.variant,
        planned_at=clock.now,
    )
    assert services.dispatch_due().sent == 1

    def listed(**query) -> set[int]:
        page = admin_client.get(reverse(INDEX), query)
        assert page.status_code == 200
        return {m.pk for m in page.context["object_list"]}

    both = {boston.pk, paris.pk}
    assert listed(created_from="2026-03-10", created_to="2026-03-10") == both
    assert listed(created_from="2026-03-11") == set()
    assert listed(created_to="2026-03-09") == set()
    assert listed(local_weekday=1) == both  # Tuesday
    assert listed(local_weekday=2) == set()
    assert listed(local_hour=11) == {boston.pk}
    assert listed(local_hour=16, local_weekday=1) == {paris.pk}
    assert listed(local_hour=15) == set()  # the UTC hour is nobody's local one


@pytest.mark.parametrize(
    "query",
    [{"local_hour": "24"}, {"local_hour": "x"}, {"local_weekday": "7"}, {"created_from": "no"}],
)
def test_a_bad_outbox_filter_is_a_form_error(admin_client, query):
    page = admin_client.get(reverse(INDEX), query)
    assert page.status_code == 200
    assert page.context["filters"].errors
