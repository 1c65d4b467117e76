"""What every request to an admin (/admin/, /django-admin/) checks about its signed-in user.

1. The session is younger than a working day (`STAFF_SESSION_MAX_AGE_SECONDS`, counted from
   the login, not from the last click), and its cookie ends with the browser unless
   `STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE` is off. The debtor portal's sessions are not
   touched: they keep their own idle timeout (`PORTAL_SESSION_IDLE_SECONDS`).
2. An admin user has given the second factor (django-otp) when it is required: always once
   they have enrolled an authenticator, and for every admin user when `STAFF_2FA_REQUIRED`
   is on (the default with DEBUG off). Until then every admin page sends them to the code
   page, or to enrolment if they have no authenticator yet.

`django_otp.middleware.OTPMiddleware` must come before this one (it gives `user.is_verified`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve, reverse
from django.utils.translation import gettext as _

from accounts.staff.twofactor import enrolled

ADMIN_PREFIXES = ("/admin/", "/django-admin/")
# When the signed-in session began (epoch seconds), stored in the session at login.
SESSION_STARTED_KEY = "staff_login_at"
# What a signed-in admin user reaches before giving the second factor: signing in and out,
# the second-factor pages themselves, and the scripts and icons those pages load.
OPEN_VIEWS = frozenset(
    {
        "wagtailadmin_login",
        "wagtailadmin_logout",
        "wagtailadmin_javascript_catalog",
        "wagtailadmin_sprite",
        "admin:login",
        "admin:logout",
        "admin:jsi18n",
        "staff_2fa_verify",
        "staff_2fa_setup",
    }
)


def is_admin_user(user) -> bool:
    """Whether `user` can open either admin, and so see debtors' personal data."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.is_staff or user.has_perm("wagtailadmin.access_admin"))
    )


def session_started(sender, request: HttpRequest, user, **kwargs) -> None:
    """`user_logged_in` receiver: the working day of this session starts now."""
    if getattr(request, "session", None) is not None:
        request.session[SESSION_STARTED_KEY] = int(time.time())


def login_url_for(path: str) -> str:
    return (
        reverse("admin:login")
        if path.startswith("/django-admin/")
        else reverse("wagtailadmin_login")
    )


class StaffLoginMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(ADMIN_PREFIXES):
            return self.get_response(request)
        if request.user.is_authenticated:
            refused = self._session_ended(request) or self._second_factor_missing(request)
            if refused is not None:
                return refused
        response = self.get_response(request)
        if request.user.is_authenticated:  # also just after a login in this very request
            self._limit_cookie(request)
        return response

    def _session_ended(self, request: HttpRequest) -> HttpResponse | None:
        started = request.session.get(SESSION_STARTED_KEY)
        now = int(time.time())
        if started is None:  # a session from before this check existed: it starts now
            request.session[SESSION_STARTED_KEY] = now
            return None
        if now - int(started) <= settings.STAFF_SESSION_MAX_AGE_SECONDS:
            return None
        logout(request)
        messages.info(request, _("Your session has ended after a working day: sign in again."))
        return redirect_to_login(request.get_full_path(), login_url_for(request.path_info))

    def _limit_cookie(self, request: HttpRequest) -> None:
        """Wagtail's "Remember me" would keep the cookie for weeks: end it with the browser,
        or at the end of the working day."""
        session = request.session
        if settings.STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE:
            if not session.get_expire_at_browser_close():
                session.set_expiry(0)
            return
        started = int(session.get(SESSION_STARTED_KEY, time.time()))
        ends = datetime.fromtimestamp(started + settings.STAFF_SESSION_MAX_AGE_SECONDS, tz=UTC)
        if session.get("_session_expiry") != ends.isoformat():
            session.set_expiry(ends)

    def _second_factor_missing(self, request: HttpRequest) -> HttpResponse | None:
        user = request.user
        if not is_admin_user(user) or user.is_verified():
            return None
        try:
            view = resolve(request.path_info).view_name
        except Resolver404:
            view = ""
        if view in OPEN_VIEWS:
            return None
        has_app = enrolled(user)
        if not has_app and not settings.STAFF_2FA_REQUIRED:
            return None
        target = reverse("staff_2fa_verify" if has_app else "staff_2fa_setup")
        return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
