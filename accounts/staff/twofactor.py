"""The second factor's records: one authenticator app (a TOTP device) and one set of one-time
recovery codes (a static device) per user, both django-otp models."""

from __future__ import annotations

import base64
import io
from base64 import b32encode

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.qr import write_qrcode_image

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def authenticator_pending(user) -> TOTPDevice:
    """A fresh, unconfirmed authenticator for `user` to scan (any earlier unconfirmed one is
    dropped, so only the QR code shown last can be confirmed)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


def authenticator_confirm(*, device: TOTPDevice) -> list[str]:
    """Make `device` the user's only authenticator and give them new recovery codes."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=device.user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        return recovery_codes_new(device.user)


def recovery_codes_new(user) -> list[str]:
    """Replace `user`'s recovery codes: each works once, in place of an authenticator code."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def authenticator_of(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def enrolled(user) -> bool:
    """Whether `user` has an authenticator app. Recovery codes alone do not count: an
    administrator resets a lost phone by deleting the user's TOTP device, and the user then
    enrols again (which replaces the old recovery codes)."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def setup_key(device: TOTPDevice) -> str:
    """The secret as people type it into an app that cannot scan: base32, in groups of four."""
    key = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


def qr_code_data_uri(device: TOTPDevice) -> str:
    """The `otpauth://` enrolment URL as an SVG QR code, inlined (nothing leaves the site)."""
    out = io.BytesIO()
    write_qrcode_image(device.config_url, out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()
