"""The link exchange, the identity check, signing out and the language switch."""

from __future__ import annotations

import logging
from datetime import timedelta

from babel.dates import format_timedelta
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.links import LinkInvalid, portal_token_read
from accounts.models import (
    Debtor,
)
from portal import access, services
from portal.access import portal_page, secure_headers
from portal.forms import (
    LanguageForm,
    LetterCodeForm,
    VerifyForm,
)
from portal.services import VerifyOutcome
from portal.templating import page

logger = logging.getLogger(__name__)


# --- Access -----------------------------------------------------------------------------------


def link_exchange(request: HttpRequest, token: str) -> HttpResponse:
    """`/p/<token>/`: trade a message's link for a session, then drop the token from the URL."""
    try:
        read = portal_token_read(token)
        debtor = Debtor.objects.select_related("creditor").get(pk=read.debtor_id)
    except (LinkInvalid, Debtor.DoesNotExist):
        request.session.cycle_key()
        request.session[access.RELINK_KEY] = token[:4000]
        response = secure_headers(redirect("portal:link_invalid"))
        response["Referrer-Policy"] = "no-referrer"
        return response
    current = access.session_read(request)
    already = current is not None and current.verified and current.debtor_id == debtor.pk
    access.session_start(request, debtor=debtor, jti=read.jti, verified=already)
    services.link_open(debtor=debtor, jti=read.jti)
    response = secure_headers(redirect("portal:overview" if already else "portal:verify"))
    response["Referrer-Policy"] = "no-referrer"  # the token URL never travels as a referrer
    return response


@require_http_methods(["GET", "POST"])
def letter_code(request: HttpRequest) -> HttpResponse:
    """`/p/code/`: the code from a letter, typed into the form of the page a visitor without a
    session sees. A code of the right form is exchanged as its link would be (the identity
    check next, or the expired-link page); anything else gets the form back with its error.
    A GET (the language switcher returning here, a reload) goes to `/p/`, which has the form."""
    if request.method == "GET":
        return secure_headers(redirect("portal:overview"))
    form = LetterCodeForm(request.POST)
    if form.is_valid():
        return link_exchange(request, form.cleaned_data["code"])
    language = access.language_pick(request.session.get("portal_lang"), request.LANGUAGE_CODE)
    with translation.override(language):
        request.LANGUAGE_CODE = language
        response = page(request, "portal/no_session.html", {"code_form": form})
    return secure_headers(response)


@require_http_methods(["GET", "POST"])
def link_invalid(request: HttpRequest) -> HttpResponse:
    """An expired or altered link. The same page and the same answer whatever the token was.

    Also where the page of a link switched off by the lockout sends its "Send me a new link"
    (the session opened with that link names the debtor)."""
    portal = access.session_read(request)
    language = access.language_pick(
        portal.language if portal else None,
        request.session.get("portal_lang"),
        request.LANGUAGE_CODE,
    )
    with translation.override(language):
        request.LANGUAGE_CODE = language
        sent = False
        if request.method == "POST":
            token = request.session.pop(access.RELINK_KEY, "")
            if token:
                services.link_request(token=token)
            elif portal is not None:
                services.link_request_after_lockout(debtor_id=portal.debtor_id, jti=portal.jti)
            sent = True
        response = page(request, "portal/link_invalid.html", {"sent": sent})
    return secure_headers(response)


def _refused(request: HttpRequest, state: services.Verification) -> HttpResponse:
    """The page for a locked link or IP (429, with how long is left) or a link switched off
    by the lockout (410, with "Send me a new link")."""
    if state.outcome is VerifyOutcome.DEAD:
        return page(request, "portal/link_dead.html", status=410)
    left = max(state.locked_until - timezone.now(), timedelta(minutes=1))
    wait = format_timedelta(left, threshold=1, locale=request.LANGUAGE_CODE)
    return page(request, "portal/locked.html", {"wait": wait}, status=429)


@portal_page(verified=False)
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Date of birth and postal code before any debt detail; lockout after 5 wrong answers,
    longer each time, then the link is switched off (`services.identity_verify`)."""
    portal = request.portal
    if portal.verified:
        return redirect("portal:overview")
    ip = access.client_ip(request)
    if request.method == "GET":
        state = services.verification_state(jti=portal.jti, ip=ip)
        if state is not None:
            return _refused(request, state)
    form = VerifyForm(request.POST or None)
    wrong = False
    if request.method == "POST" and form.is_valid():
        result = services.identity_verify(
            debtor_id=portal.debtor_id,
            jti=portal.jti,
            ip=ip,
            date_of_birth=form.cleaned_data["date_of_birth"],
            postal_code=form.cleaned_data["postal_code"],
        )
        if result.outcome is VerifyOutcome.VERIFIED:
            access.session_verified(request)
            return redirect("portal:overview")
        if result.outcome is not VerifyOutcome.WRONG:
            return _refused(request, result)
        wrong = True
        form = VerifyForm()
    return page(request, "portal/verify.html", {"form": form, "wrong": wrong, "page_error": wrong})


@portal_page()
@require_POST
def stay(request: HttpRequest) -> HttpResponse:
    """ "Stay signed in" in the idle warning: restart the idle clock. portal.js posts it in the
    background (`js=1`: 204, the page stays as it is); the plain form goes back to the page."""
    access.session_touch(request)
    if request.POST.get("js"):
        return HttpResponse(status=204)
    return redirect(_portal_path(request.POST.get("next", "")))


def _portal_path(nxt: str) -> str:
    """`nxt` when it is a page of the portal on this site, else the overview."""
    if nxt.startswith("/p/") and url_has_allowed_host_and_scheme(nxt, allowed_hosts=None):
        return nxt
    return reverse("portal:overview")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()
    return secure_headers(page(request, "portal/signed_out.html", {"code_form": LetterCodeForm()}))


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """The language switcher (a plain form). A verified debtor's choice is saved on the record."""
    form = LanguageForm(request.POST)
    target = reverse("portal:overview")
    if form.is_valid():
        code = form.cleaned_data["language"]
        access.session_language(request, code)
        portal = access.session_read(request)
        if portal is not None and portal.verified:
            services.language_set(debtor=portal.debtor, language=code)
        target = _portal_path(form.cleaned_data.get("next") or "")
    return secure_headers(redirect(target))
