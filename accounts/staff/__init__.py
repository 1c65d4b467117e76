"""Staff logins to the two admins (Wagtail's /admin/, Django's /django-admin/).

- Wrong passwords are counted by django-axes (settings `AXES_*`, `STAFF_LOGIN_*`); this module
  gives it a lockout page that says what happened and log lines without personal data.
- The second factor (TOTP from an authenticator app, or a one-time recovery code; django-otp)
  and the working-day session limit: `accounts.staff.middleware`, with the enrolment and
  verification pages in `accounts.staff.views` under /admin/2fa/.

docs/security.md describes the whole set-up.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def login_attempt_str(
    username: str, ip_address: str, user_agent: str, path_info: str, request: HttpRequest
) -> str:
    """How django-axes names a login attempt in its log lines: the page only, never the
    username or the client's address (those stay in its database table, for the admins)."""
    return f"{{path_info: {path_info!r}}}"


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The page a locked-out username+address gets instead of the login form (HTTP 429)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    response = TemplateResponse(
        request,
        "accounts/staff/locked_out.html",
        {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response.render()
