"""The second-factor pages, under /admin/2fa/ for users of both admins (docs/security.md).

- `verify`: after the password, the code from the authenticator app or a recovery code.
- `setup`: enrolment: a QR code to scan, the code it then shows, and the recovery codes.
- `overview`: what is set up, with a way to replace the app or get new recovery codes.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.staff import twofactor
from accounts.staff.forms import EnrolForm, SecondFactorForm

LOGIN = "wagtailadmin_login"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("wagtailadmin_home")


@sensitive_post_parameters("code")
@never_cache
@login_required(login_url=LOGIN)
def verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    if not twofactor.enrolled(user):
        return redirect(f"{reverse('staff_2fa_setup')}?{request.GET.urlencode()}")
    form = SecondFactorForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        otp_login(request, form.device)
        return redirect(_next_url(request))
    return render(
        request,
        "accounts/staff/verify.html",
        {"form": form, "next": _next_url(request)},
        status=200 if request.method == "GET" or form.is_valid() else 400,
    )


@sensitive_post_parameters("code")
@never_cache
@login_required(login_url=LOGIN)
def setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app. Someone who has one already must give its code first (the
    middleware sends them to `verify`): then this replaces it."""
    user = request.user
    if twofactor.enrolled(user) and not user.is_verified():
        return redirect(f"{reverse('staff_2fa_verify')}?next={reverse('staff_2fa_setup')}")
    device = None
    if request.method == "POST":
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = twofactor.authenticator_pending(user)
    form = EnrolForm(request.POST if request.method == "POST" else None, device=device)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.authenticator_confirm(device=device)
        otp_login(request, device)
        return _recovery_codes_page(request, codes)
    return render(
        request,
        "accounts/staff/setup.html",
        {
            "form": form,
            "next": _next_url(request),
            "qr_code": twofactor.qr_code_data_uri(device),
            "setup_key": twofactor.setup_key(device),
            "replacing": twofactor.enrolled(user),
        },
        status=400 if request.method == "POST" else 200,
    )


@never_cache
@login_required(login_url=LOGIN)
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "accounts/staff/overview.html",
        {
            "authenticator": twofactor.authenticator_of(user),
            "recovery_codes_left": twofactor.recovery_codes_left(user),
        },
    )


@never_cache
@require_POST
@login_required(login_url=LOGIN)
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes (the old ones stop working), shown once."""
    if twofactor.authenticator_of(request.user) is None:
        return redirect("staff_2fa_setup")
    return _recovery_codes_page(request, twofactor.recovery_codes_new(request.user))


def _recovery_codes_page(request: HttpRequest, codes: list[str]) -> HttpResponse:
    # Rendered in the response to the POST that made them, never stored anywhere they could
    # be read back: the page says to keep them now.
    return render(
        request,
        "accounts/staff/recovery_codes.html",
        {"codes": codes, "next": _next_url(request)},
    )
