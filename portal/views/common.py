"""Shared by the portal's pages: the Babel locale of the request."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.regions import babel_locale


def _locale(request: HttpRequest) -> str:
    return babel_locale(request.LANGUAGE_CODE, request.portal.debtor.region)
