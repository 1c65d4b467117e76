from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, VerifyNotAllowed
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


def _code_field() -> forms.CharField:
    return forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )


def _check(device: Device | None, code: str) -> None:
    """Verify `code` on `device` (throttled by django-otp) or raise a readable error."""
    if device is None:
        raise forms.ValidationError(_("That code is not right. Check it and try again."))
    allowed, extra = device.verify_is_allowed()
    if not allowed:
        if (extra or {}).get("reason") == VerifyNotAllowed.N_FAILED_ATTEMPTS:
            raise forms.ValidationError(
                _("Too many wrong codes in a row: wait a minute, then try again.")
            )
        raise forms.ValidationError(_("Codes cannot be checked right now: try again later."))
    if not device.verify_token(code):
        raise forms.ValidationError(_("That code is not right. Check it and try again."))


class SecondFactorForm(forms.Form):
    """The code from the authenticator app (6 digits), or one unused recovery code."""

    code = _code_field()

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device: Device | None = None
        self.fields["code"].help_text = _(
            "The 6-digit code your authenticator app shows now, or one of your recovery codes."
        )

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split()).replace("-", "").lower()
        # Digits are an authenticator code; anything else can only be a recovery code. Each
        # code is checked against one device only, so a wrong code throttles that one alone.
        model = TOTPDevice if code.isdigit() else StaticDevice
        device = model.objects.devices_for_user(self.user, confirmed=True).first()
        _check(device, code)
        self.device = device
        return code


class EnrolForm(forms.Form):
    """Confirms that the app scanned the new secret: the code it shows now."""

    code = _code_field()

    def __init__(self, *args, device: TOTPDevice, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.device = device
        self.fields["code"].help_text = _("The 6-digit code the app shows for this site.")

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        _check(self.device, code)
        return code
