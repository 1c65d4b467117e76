"""Admin forms of the compliance app: regions, one form per rule kind, the cases upload.

Validation lives on the models (validators and ``clean()``, which builds the engine rule), so
every error reaches the officer as a form error; these forms only choose friendlier widgets
and normalise text (windows, categories). Wired in ``compliance/admin.py``.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django import forms
from django.utils.html import escape

from compliance.models import (
    CHANNEL_CHOICES,
    FLAG_CHOICES,
    CapRule,
    ContactAttempt,
    DisclosureRule,
    FlagRule,
    PermissionRule,
    QuietRule,
    Region,
    WindowRule,
)
from compliance.rules import DAY_FIELDS, windows_normalize


def _channels_field(*, required: bool = True, help_text: str = "") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=CHANNEL_CHOICES,
        required=required,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


def _flags_field(*, required: bool = False, help_text: str = "") -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=FLAG_CHOICES,
        required=required,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text=help_text or "Apply only to debtors with all of these flags.",
    )


class RegionForm(forms.ModelForm):
    holiday_categories = forms.CharField(
        required=False,
        help_text="Comma-separated categories of the holidays package, e.g. public, optional. "
        "Blank: the package default (public).",
    )

    class Meta:
        model = Region
        fields = [
            "code",
            "name",
            "parent",
            "time_zone",
            "holiday_country",
            "holiday_subdivision",
            "holiday_categories",
            "note",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["holiday_categories"] = ", ".join(self.instance.holiday_categories or [])

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        return code if code.lower() == "default" else code.upper()

    def clean_holiday_country(self) -> str:
        return self.cleaned_data["holiday_country"].strip().upper()

    def clean_holiday_subdivision(self) -> str:
        return self.cleaned_data["holiday_subdivision"].strip().upper()

    def clean_holiday_categories(self) -> list[str]:
        raw = self.cleaned_data.get("holiday_categories") or ""
        return [c.strip().lower() for c in raw.split(",") if c.strip()]


class RuleForm(forms.ModelForm):
    """Fields every rule kind shares; subclasses add their own."""

    channels = _channels_field(help_text="The channels this rule restricts.")
    when_flags = _flags_field()

    COMMON = [
        "code",
        "title",
        "enabled",
        "channels",
        "when_flags",
        "valid_from",
        "valid_to",
        "citation_text",
        "citation_url",
        "fallback",
        "note",
    ]


class WindowRuleForm(RuleForm):
    class Meta:
        model = WindowRule
        fields = [*RuleForm.COMMON, *DAY_FIELDS]
        widgets = {d: forms.TextInput(attrs={"size": 30}) for d in DAY_FIELDS}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for day in DAY_FIELDS:
            value = cleaned.get(day)
            if value is None:
                continue
            # An invalid value stays as typed: the model's validator reports it on the field.
            with suppress(ValueError):
                cleaned[day] = windows_normalize(value)
        return cleaned


class CapRuleForm(RuleForm):
    count_channels = _channels_field(
        required=False, help_text="Whose past contacts count; none ticked = the rule's channels."
    )

    class Meta:
        model = CapRule
        fields = [
            *RuleForm.COMMON,
            "max_count",
            "period",
            "days",
            "counts",
            "count_channels",
            "scope",
            "after_first_conversation",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("period") and cleaned["period"] != "rolling_days":
            cleaned["days"] = 0  # only a rolling period has a length
        elif cleaned.get("period") == "rolling_days" and not cleaned.get("days"):
            self.add_error("days", "A rolling period needs its length in days (at least 1).")
        return cleaned


class QuietRuleForm(RuleForm):
    trigger_channels = _channels_field(help_text="Contacts on these channels start the period.")

    class Meta:
        model = QuietRule
        fields = [*RuleForm.COMMON, "days", "trigger", "trigger_channels", "scope"]


class FlagRuleForm(RuleForm):
    when_flags = _flags_field(
        required=True, help_text="The debtor flag(s) that block; with several, all must be set."
    )

    class Meta:
        model = FlagRule
        fields = RuleForm.COMMON


class PermissionRuleForm(RuleForm):
    class Meta:
        model = PermissionRule
        fields = [f for f in RuleForm.COMMON if f != "when_flags"] + ["mode"]

    when_flags = None  # a permission is unconditional (use a flag rule for conditions)


class DisclosureRuleForm(RuleForm):
    class Meta:
        model = DisclosureRule
        fields = [*RuleForm.COMMON, "topic", "when", "texts", "fallback_language"]
        widgets = {"texts": forms.Textarea(attrs={"rows": 4, "cols": 80})}


RULE_FORMS: dict[str, type[RuleForm]] = {
    "window": WindowRuleForm,
    "cap": CapRuleForm,
    "quiet": QuietRuleForm,
    "flag": FlagRuleForm,
    "permission": PermissionRuleForm,
    "disclosure": DisclosureRuleForm,
}


class CasesRunForm(forms.Form):
    """Upload a cases file (the ``compliance_check`` format) to run against the rules."""

    MAX_BYTES = 5 * 1024 * 1024

    file = forms.FileField(
        required=False, help_text="JSONL, one case per line (see docs/compliance.md)."
    )
    shipped = forms.BooleanField(
        required=False,
        label="Also run the shipped cases of the selected regions",
        # Django shows help texts as HTML: escaped, so "<region>" is not taken for a tag.
        help_text=escape("compliance/cases/<region>.jsonl for each selected region."),
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is None:
            return None
        if upload.size > self.MAX_BYTES:
            raise forms.ValidationError("The file is larger than 5 MB; split it.")
        try:
            self.text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("file") and not cleaned.get("shipped") and not self.errors:
            raise forms.ValidationError("Upload a cases file or tick the shipped cases.")
        return cleaned


class ContactLogForm(forms.ModelForm):
    """An operator logs a call (or another contact) into the ledger."""

    class Meta:
        model = ContactAttempt
        fields = ["debtor", "account", "channel", "at", "outcome"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        debtor, account = cleaned.get("debtor"), cleaned.get("account")
        if debtor and account and account.debtor_id != debtor.pk:
            self.add_error("account", "This account belongs to another debtor.")
        return cleaned
