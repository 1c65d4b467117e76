"""The message library in the Wagtail admin: variants (with their funnels) and tones, and the
outbox (every message as it was sent, read-only: `messaging.outbox_admin`), all under one
"Messages" menu.

Variants are snippets with drafts, revisions, locking, live preview per tagged region and the
"Compliance approval" workflow (created by migration 0002): content editors submit, a member of
"Compliance reviewers" approves, and only then does a variant go live and become sendable.
Only reviewers (and superusers) hold the publish permission, so nobody else can skip the
workflow.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.panels import FieldPanel, HelpPanel, MultiFieldPanel, ObjectList
from wagtail.admin.ui.tables import Column
from wagtail.permissions import register_permission_policy
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import IndexView, SnippetViewSet, SnippetViewSetGroup

from accounts.wagtail_readonly import ViewOnlyPermissionPolicy
from messaging import rendering, selectors
from messaging.forms import MessageVariantForm, SmsTextarea
from messaging.models import (
    CallToAction,
    Channel,
    JourneyStage,
    Message,
    MessageVariant,
    Tone,
    language_choices,
)
from messaging.outbox_admin import MENU_HOOK, MessageViewSet

# Before anything asks Wagtail for Message's policy (it would fall back to the model default).
register_permission_policy(Message, ViewOnlyPermissionPolicy(Message))


def _placeholder_help() -> str:
    items = "".join(
        f"<li><code>{{{{ {name} }}}}</code>: {text}</li>"
        for name, text in rendering.PLACEHOLDERS.items()
    )
    return (
        "<p>Write plain text. These placeholders are filled in for each debtor; anything else "
        "in <code>{{ }}</code> or <code>{% %}</code> is refused when you save. The region's "
        "required disclosures (opt-out text, debt-collector notices, ...) are appended "
        "automatically: see the preview.</p>"
        f"<ul>{items}</ul>"
    )


class MessageVariantFilterSet(WagtailFilterSet):
    """Listing filters: tone, CTA, channel, stage, region, language, live."""

    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    language = django_filters.ChoiceFilter(choices=language_choices)
    tone = django_filters.ModelChoiceFilter(queryset=Tone.objects.all())
    cta = django_filters.ChoiceFilter(label=_("Call to action"), choices=CallToAction.choices)
    stage = django_filters.ChoiceFilter(
        label=_("Journey stage"), choices=JourneyStage.choices, method="filter_stage"
    )
    region = django_filters.CharFilter(
        label=_("Region"),
        method="filter_region",
        help_text=_("A region code: shows variants tagged with it and untagged (any) ones."),
    )
    live = django_filters.BooleanFilter(label=_("Live"))

    class Meta:
        model = MessageVariant
        fields = ["channel", "language", "tone", "cta", "live"]

    def filter_stage(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(selectors.json_list_contains("stages", value)) if value else queryset

    def filter_region(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        code = (value or "").strip().upper()
        if not code:
            return queryset
        # The region itself, any of its parents (US covers US-MA), or untagged variants.
        parts = code.split("-")
        q = selectors.json_list_contains("regions", code)
        for i in range(1, len(parts)):
            q |= selectors.json_list_contains("regions", "-".join(parts[:i]))
        return queryset.filter(q | selectors.json_list_empty("regions"))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


class MessageVariantIndexView(IndexView):
    """The variant listing; each page's funnels are read with one aggregate query."""

    def get_table(self, object_list):
        objects = list(object_list)
        funnels = selectors.variants_funnel(variant_ids=[v.pk for v in objects])
        for variant in objects:
            variant.funnel = funnels.get(variant.pk, selectors.Funnel())
        return super().get_table(objects)


class MessageVariantViewSet(SnippetViewSet):
    model = MessageVariant
    icon = "mail"
    menu_label = _("Message variants")
    index_view_class = MessageVariantIndexView
    filterset_class = MessageVariantFilterSet
    list_per_page = 25
    search_fields = ["name"]
    list_display = [
        "name",
        Column("channel", label=_("Channel"), accessor="get_channel_display"),
        Column("language", label=_("Language")),
        Column("tone", label=_("Tone")),
        Column("cta", label=_("CTA"), accessor="get_cta_display"),
        Column("sent", label=_("Sent"), accessor=lambda v: v.funnel.sent),
        Column("delivered", label=_("Delivered"), accessor=lambda v: v.funnel.delivered),
        Column("open_rate", label=_("Open rate"), accessor=lambda v: _pct(v.funnel.open_rate)),
        Column("click_rate", label=_("Click rate"), accessor=lambda v: _pct(v.funnel.click_rate)),
        Column(
            "conversion_rate",
            label=_("Conversion rate"),
            accessor=lambda v: _pct(v.funnel.conversion_rate),
        ),
    ]
    edit_handler = ObjectList(
        [
            MultiFieldPanel(
                [
                    FieldPanel("name"),
                    FieldPanel("channel"),
                    FieldPanel("language"),
                    FieldPanel("tone"),
                    FieldPanel("cta"),
                    FieldPanel("stages"),
                    FieldPanel("regions"),
                ],
                heading=_("Targeting"),
            ),
            HelpPanel(content=_placeholder_help(), heading=_("Placeholders")),
            MultiFieldPanel(
                [FieldPanel("email_subject"), FieldPanel("email_body")],
                heading=_("Email"),
            ),
            MultiFieldPanel(
                [FieldPanel("sms_text", widget=SmsTextarea)],
                heading=_("SMS / WhatsApp"),
            ),
            MultiFieldPanel([FieldPanel("letter_body")], heading=_("Letter")),
            FieldPanel("notes"),
        ],
        base_form_class=MessageVariantForm,
    )

    def get_queryset(self, request):
        return MessageVariant.objects.select_related("tone")


class ToneViewSet(SnippetViewSet):
    model = Tone
    icon = "comment"
    menu_label = _("Tones")
    list_display = ["name", "slug", "sort_order"]
    panels = [
        FieldPanel("name"),
        FieldPanel("slug"),
        FieldPanel("description"),
        FieldPanel("sort_order"),
    ]


class MessagingViewSetGroup(SnippetViewSetGroup):
    items = (MessageVariantViewSet, ToneViewSet)
    menu_icon = "mail"
    menu_label = _("Messages")
    menu_name = "messages"
    # The outbox is not a snippet: its viewset adds its menu item here through this hook.
    submenu_hook = MENU_HOOK


register_snippet(MessagingViewSetGroup)


@hooks.register("register_admin_viewset")
def register_outbox_viewset():
    return MessageViewSet()
