"""Forms of the debtor portal. Labels are translated; every form works without JavaScript."""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.links import letter_code_shaped
from accounts.models import CHANNEL_CHOICES, PlanFrequency
from portal.models import CallbackWindow, DisputeReason, PauseReason


def nonce_new() -> str:
    """A per-form random value: posting the same form twice is recognised as one payment."""
    return secrets.token_urlsafe(18)


_PORTAL_PATH = re.compile("/p/", re.IGNORECASE)


class LetterCodeForm(forms.Form):
    """The code printed on a letter, typed by hand (`accounts.links`, letter codes).

    Only its form is checked here (Crockford's base32, hyphens and spaces allowed); whether it
    is ours and still valid is the link exchange's answer, the same page as for any link."""

    code = forms.CharField(
        label=_("Code from your letter"),
        max_length=200,  # room for the whole address typed in, not only its code
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )

    def clean_code(self) -> str:
        # The whole address typed from the letter ("collect.example.com/p/K3M9-..."): its code.
        # In any case: the field asks phones for capitals, so "/P/" is as likely as "/p/".
        code = _PORTAL_PATH.split(self.cleaned_data["code"].strip())[-1].strip("/ ")
        if not letter_code_shaped(code):
            raise forms.ValidationError(
                _("Type the code as it is printed on your letter, for example K3M9-TTQ4-ZZ7A-B2CD.")
            )
        return code


class VerifyForm(forms.Form):
    """Date of birth (day, month, year) and postal code, compared with the record."""

    # autocomplete: the browser can fill them in, and assistive tools can tell their purpose.
    day = forms.IntegerField(
        label=_("Day"),
        min_value=1,
        max_value=31,
        widget=forms.NumberInput(attrs={"size": 2, "autocomplete": "bday-day"}),
    )
    month = forms.IntegerField(
        label=_("Month"),
        min_value=1,
        max_value=12,
        widget=forms.NumberInput(attrs={"size": 2, "autocomplete": "bday-month"}),
    )
    year = forms.IntegerField(
        label=_("Year"),
        min_value=1900,
        max_value=2100,
        widget=forms.NumberInput(attrs={"size": 4, "autocomplete": "bday-year"}),
    )
    postal_code = forms.CharField(
        label=_("Postal code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "postal-code", "autocapitalize": "characters"}
        ),
    )

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                data["date_of_birth"] = date(data["year"], data["month"], data["day"])
            except ValueError as exc:
                raise forms.ValidationError(_("Enter a real date of birth.")) from exc
        return data


class CardFields(forms.Form):
    """Card fields for the sandbox gateway; none for Stripe, whose hosted page takes the card."""

    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, collects_card: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.collects_card = collects_card
        if collects_card:
            self.fields["card_number"] = forms.CharField(
                label=_("Card number"),
                max_length=23,
                widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
            )
            self.fields["exp_month"] = forms.IntegerField(
                label=_("Expiry month (MM)"),
                min_value=1,
                max_value=12,
                widget=forms.NumberInput(attrs={"autocomplete": "cc-exp-month"}),
            )
            self.fields["exp_year"] = forms.IntegerField(
                label=_("Expiry year (YYYY)"),
                min_value=2000,
                max_value=2100,
                widget=forms.NumberInput(attrs={"autocomplete": "cc-exp-year"}),
            )
            self.fields["cvc"] = forms.RegexField(
                label=_("Security code (CVC)"),
                regex=r"^\d{3,4}$",
                widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
            )


class PayForm(CardFields):
    """Pay in full, pay part, or pay the next instalment."""

    purpose = forms.ChoiceField(label=_("What would you like to pay?"), widget=forms.RadioSelect)
    amount = forms.CharField(
        label=_("Amount (for a part payment)"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    def __init__(self, *args, purposes: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = purposes


class SettleForm(CardFields):
    offer = forms.IntegerField(widget=forms.HiddenInput)


class PlanForm(forms.Form):
    """Parses the plan the debtor chooses; every rule about it (a known frequency included) is
    `accounts.services.plan_check`'s, whose refusals the plan page puts next to these fields."""

    frequency = forms.CharField(
        label=_("How often?"), widget=forms.RadioSelect(choices=PlanFrequency.choices)
    )
    count = forms.IntegerField(label=_("Number of instalments"))
    first_due = forms.DateField(
        label=_("First payment date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
    )


class PauseForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Why do you need a break?"), choices=PauseReason.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args, max_days: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"] = forms.IntegerField(
            label=_("For how many days?"), min_value=1, max_value=max_days
        )


class DisputeForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Why do you dispute this debt?"),
        choices=DisputeReason.choices,
        widget=forms.RadioSelect,
    )
    details = forms.CharField(
        label=_("Tell us more (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    document = forms.FileField(
        label=_("Supporting document (optional): PDF, PNG or JPG, at most 5 MB"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg"}),
    )


TIME_WINDOW_CHOICES = [
    ("any", _("Any time")),
    ("morning", _("Mornings (8:00-12:00)")),
    ("afternoon", _("Afternoons (12:00-17:00)")),
    ("evening", _("Evenings (17:00-21:00)")),
]


class PreferencesForm(forms.Form):
    preferred_channel = forms.ChoiceField(
        label=_("How would you prefer us to contact you?"),
        choices=[("", _("No preference")), *CHANNEL_CHOICES],
        required=False,
    )
    time_window = forms.ChoiceField(
        label=_("Best time of day"), choices=TIME_WINDOW_CHOICES, widget=forms.RadioSelect
    )
    opted_out = forms.MultipleChoiceField(
        label=_("Do not contact me by"),
        choices=CHANNEL_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class CallbackForm(forms.Form):
    day = forms.ChoiceField(label=_("Day"))
    window = forms.ChoiceField(
        label=_("Time"), choices=CallbackWindow.choices, widget=forms.RadioSelect
    )

    def __init__(self, *args, days: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["day"].choices = days


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    next = forms.CharField(required=False, widget=forms.HiddenInput)


def callback_days(today: date, count: int) -> list[date]:
    """The days a call back can be booked on: today and the `count` days after it."""
    return [today + timedelta(days=i) for i in range(count + 1)]
