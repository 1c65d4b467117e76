"""The portal session: who the debtor is, whether they verified, their language, idle expiry.

After the token exchange the server-side session holds `{"d": debtor id, "j": link jti,
"v": verified, "seen": last activity (epoch seconds), "lang": language}` under one key; the
cookie carries only Django's random session key. `portal_page` wraps every portal view: it
enforces the idle timeout, activates the language and adds the security headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import translation
from django.utils.functional import cached_property

from accounts.models import Debtor
from portal import templating
from portal.forms import LetterCodeForm

logger = logging.getLogger(__name__)

SESSION_KEY = "portal"
RELINK_KEY = "portal_relink"
# Refresh the idle clock at most once a minute, so reading a page does not write the session.
_TOUCH_EVERY = 60
# The idle warning ("Do you want to stay signed in?") opens this long before the session ends.
IDLE_WARNING_SECONDS = 120
# Whether this process has said that requests arrive through a proxy it was not told about.
_forwarded_logged = False


def idle_seconds() -> int:
    return settings.PORTAL_SESSION_IDLE_SECONDS


def language_pick(*candidates: str | None) -> str:
    """The first candidate the site speaks (`fr-CA` -> `fr`), else the default language."""
    spoken = dict(settings.LANGUAGES)
    for candidate in candidates:
        code = (candidate or "").split("-")[0].split("_")[0].lower()
        if code in spoken:
            return code
    return settings.LANGUAGE_CODE


def client_ip(request: HttpRequest) -> str:
    """The client address: `REMOTE_ADDR`, or the last hop of `PORTAL_CLIENT_IP_HEADER`
    (e.g. `HTTP_X_FORWARDED_FOR`, set only behind a proxy that appends the real client).

    A request forwarded by a proxy while the header is not set is logged once per process
    (without any address): the per-IP lockout is off then (system check portal.W001)."""
    global _forwarded_logged
    header = settings.PORTAL_CLIENT_IP_HEADER
    if header and request.META.get(header):
        return request.META[header].split(",")[-1].strip()
    if not header and not _forwarded_logged and "HTTP_X_FORWARDED_FOR" in request.META:
        _forwarded_logged = True
        logger.warning(
            "portal.W001: a request came through a proxy (X-Forwarded-For) but "
            "PORTAL_CLIENT_IP_HEADER is not set: wrong identity answers are counted per link "
            "only, not per client IP (docs/portal.md, Access)."
        )
    return request.META.get("REMOTE_ADDR", "") or "unknown"


@dataclass
class PortalSession:
    debtor_id: int
    jti: str
    verified: bool
    language: str
    seen: int = 0  # last activity, epoch seconds

    @cached_property
    def debtor(self) -> Debtor:
        return Debtor.objects.select_related("creditor").get(pk=self.debtor_id)

    @property
    def idle(self) -> dict[str, int]:
        """What the pages say and the idle warning needs: the timeout (`seconds`,
        `minutes`), the seconds `left` before this session ends unless the debtor does
        something, and how long before the end the warning opens (`warn`)."""
        seconds = idle_seconds()
        return {
            "seconds": seconds,
            "minutes": max(1, seconds // 60),
            "left": max(0, seconds - (int(time.time()) - self.seen)),
            "warn": min(IDLE_WARNING_SECONDS, seconds // 2),
        }


def session_start(request: HttpRequest, *, debtor: Debtor, jti: str, verified: bool) -> None:
    """Bind the session to a debtor (new session key: no fixation) with a short expiry."""
    language = language_pick(debtor.language, debtor.creditor.locale)
    request.session.cycle_key()
    request.session[SESSION_KEY] = {
        "d": debtor.pk,
        "j": jti,
        "v": verified,
        "seen": int(time.time()),
        "lang": language,
    }
    request.session.set_expiry(idle_seconds())


def session_verified(request: HttpRequest) -> None:
    state = request.session[SESSION_KEY]
    request.session.cycle_key()
    request.session[SESSION_KEY] = {**state, "v": True, "seen": int(time.time())}


def session_language(request: HttpRequest, language: str) -> None:
    state = request.session.get(SESSION_KEY)
    if state:
        request.session[SESSION_KEY] = {**state, "lang": language}
    else:
        request.session["portal_lang"] = language


def session_read(request: HttpRequest) -> PortalSession | None:
    """The live portal session, or None (absent, or idle too long: then it is ended)."""
    state = request.session.get(SESSION_KEY)
    if not state:
        return None
    now = int(time.time())
    if now - int(state.get("seen", 0)) > idle_seconds():
        request.session.flush()
        return None
    if now - int(state["seen"]) > _TOUCH_EVERY:
        request.session[SESSION_KEY] = {**state, "seen": now}
        request.session.set_expiry(idle_seconds())
    return PortalSession(
        debtor_id=int(state["d"]),
        jti=str(state["j"]),
        verified=bool(state.get("v")),
        language=state.get("lang") or settings.LANGUAGE_CODE,
        seen=int(request.session[SESSION_KEY]["seen"]),
    )


def session_touch(request: HttpRequest) -> None:
    """Restart the idle clock now ("Stay signed in")."""
    state = request.session[SESSION_KEY]
    request.session[SESSION_KEY] = {**state, "seen": int(time.time())}
    request.session.set_expiry(idle_seconds())


def csp_header() -> str:
    extra = " ".join(settings.PORTAL_CSP_FORM_ACTION)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action 'self'{' ' + extra if extra else ''}"
    )


def secure_headers(response: HttpResponse) -> HttpResponse:
    """Headers every portal response carries: CSP, no caching, referrer kept on site, no index."""
    response["Content-Security-Policy"] = csp_header()
    response["Cache-Control"] = "no-store"
    # same-origin, not no-referrer: Chromium sends `Origin: null` on form posts under
    # no-referrer, which CSRF origin checking rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def portal_page(*, verified: bool = True) -> Callable:
    """Decorate a portal view: needs a live session (and a verified one unless told not)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            portal = session_read(request)
            language = (
                portal.language
                if portal
                else language_pick(request.session.get("portal_lang"), request.LANGUAGE_CODE)
            )
            with translation.override(language):
                request.LANGUAGE_CODE = language
                if portal is None:
                    response = templating.page(
                        request,
                        "portal/no_session.html",
                        {"code_form": LetterCodeForm()},
                        status=403,
                    )
                elif verified and not portal.verified:
                    response = redirect("portal:verify")
                else:
                    request.portal = portal
                    response = view(request, *args, **kwargs)
                    if hasattr(response, "render") and not response.is_rendered:
                        response.render()
            response["Content-Language"] = language
            return secure_headers(response)

        return wrapper

    return decorate
