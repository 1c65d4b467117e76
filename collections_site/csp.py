"""One Content-Security-Policy per area of the site, on every response (django-csp).

`CONTENT_SECURITY_POLICY` (settings) is the strict policy for everything not named in
`CSP_AREA_POLICIES`: the home page, the creditor API, the tracking and webhook endpoints,
documents and static files. The areas whose pages need more (the two admins, the API docs)
have their own policy there, picked by path prefix, the first that matches. A response that
already carries a policy keeps it: the debtor portal sets its own, stricter one
(`portal.access.csp_header`), and a view may set its own with django-csp's decorators.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


def area_policy(path: str) -> dict | None:
    """The directives of the area `path` belongs to, or None for the site-wide default."""
    for prefix, directives in settings.CSP_AREA_POLICIES.items():
        if path.startswith(prefix):
            return directives
    return None


class AreaCSPMiddleware(CSPMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "is_dummy", False):
            # Wagtail renders a preview by sending a made-up request for the object's public
            # URL through the middleware; the admin's preview view then returns that response.
            # Its policy is the admin's, set when it leaves the real request.
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if parts.config is None and not report_only:
            parts.config = area_policy(request.path_info)
        return parts
