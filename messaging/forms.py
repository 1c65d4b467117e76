"""Admin forms: the message variant editor (Wagtail) and its region and SMS widgets."""

from __future__ import annotations

from typing import Any

from django import forms
from wagtail.admin.forms import WagtailAdminModelForm

from accounts import regions
from messaging import rendering
from messaging.models import JourneyStage


class RegionTagsField(forms.CharField):
    """Region codes typed as `US, GB, CA-QC`; stored as a list. Empty means any region."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            items = [str(v) for v in value]
        else:
            text = super().to_python(value) or ""
            items = text.replace(";", ",").replace(" ", ",").split(",")
        seen: dict[str, None] = {}
        for item in items:
            code = item.strip().upper()
            if code:
                seen.setdefault(code, None)
        return list(seen)

    def validate(self, value: list[str]) -> None:
        bad = [code for code in value if not regions.is_valid(code)]
        if bad:
            raise forms.ValidationError(f"Unknown region codes: {', '.join(bad)}.")


class SmsTextarea(forms.Textarea):
    """A textarea that shows the live GSM-7/UCS-2 segment count of what is typed."""

    template_name = "messaging/widgets/sms_textarea.html"

    class Media:
        js = ["messaging/js/sms_segments.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["segments"] = rendering.sms_segments(value or "").describe()
        return context


class MessageVariantForm(WagtailAdminModelForm):
    """The variant editor. Template errors are raised by `MessageVariant.clean` and shown on
    their fields, so a bad placeholder is a form error when saving, never a crash later."""

    stages = forms.MultipleChoiceField(
        label="Journey stages",
        choices=JourneyStage.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The stages this message may be sent in.",
    )
    regions = RegionTagsField(
        label="Region tags",
        required=False,
        help_text="Comma-separated region codes (US covers US-MA). Empty: any region.",
    )
