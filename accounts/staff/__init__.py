"""Staff logins to the two admins (Wagtail's /admin/, Django's /django-admin/).

- Wrong passwords are counted by django-axes (settings `AXES_*`, `STAFF_LOGIN_*`); this module
  gives it a lockout page that says what happened and log lines without personal data.
- The second factor (TOTP from an authenticator app, or a one-time recovery code; django-otp)
  and the working-day session limit: `accounts.staff.middleware`, with the enrolment and
  verification pages in `accounts.staff.views` under /admin/2fa/.

docs/security.md describes the whole set-up.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for django-axes, found as the portal finds it (the last hop of
    `PORTAL_CLIENT_IP_HEADER` behind a proxy, else the socket's), or None when there is no
    valid address (a test client, a Unix socket): axes stores it in an IP address column,
    which PostgreSQL refuses anything else for. (`accounts` cannot import the portal's.)"""
    header = settings.PORTAL_CLIENT_IP_HEADER
    forwarded = request.META.get(header, "") if header else ""
    value = forwarded.split(",")[-1].strip() if forwarded else request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


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
