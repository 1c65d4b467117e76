"""System checks of the portal's settings (run by `manage.py check`, `migrate`, `runserver`
and `qcluster`).

portal.W001: the site looks as if it runs behind a proxy, but `PORTAL_CLIENT_IP_HEADER` does
not say where the client's address is. Every request then seems to come from the proxy, so
the identity check cannot count wrong answers per client IP (that lock is off; the per-link
lock still applies). What can be seen before any request arrives is what the settings trust
from a proxy: `USE_X_FORWARDED_HOST` or `USE_X_FORWARDED_PORT`, or, with DEBUG off,
`SECURE_PROXY_SSL_HEADER` (the base settings set it everywhere, but only in production is the
site served over HTTPS it cannot terminate itself: gunicorn.conf.py has no certificate).
A request that does arrive with X-Forwarded-For is logged once per process
(`portal.access.client_ip`).
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


def proxy_signs() -> list[str]:
    """The settings that say requests come through a proxy (empty: none do)."""
    signs = [
        name for name in ("USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT") if getattr(settings, name)
    ]
    if settings.SECURE_PROXY_SSL_HEADER and not settings.DEBUG:
        signs.append("SECURE_PROXY_SSL_HEADER")
    return signs


@register(Tags.security)
def client_ip_header_check(app_configs, **kwargs) -> list[Warning]:
    if settings.PORTAL_CLIENT_IP_HEADER:
        return []
    signs = proxy_signs()
    if not signs:
        return []
    return [
        Warning(
            f"The site trusts a proxy ({', '.join(signs)}) but PORTAL_CLIENT_IP_HEADER is not "
            "set: every portal visitor seems to come from the proxy's address, so wrong "
            "identity answers are not counted per client IP (only per link).",
            hint="Set PORTAL_CLIENT_IP_HEADER=HTTP_X_FORWARDED_FOR when the proxy appends the "
            "client's address to X-Forwarded-For, or PORTAL_CLIENT_IP_HEADER=REMOTE_ADDR when "
            "clients connect to this server directly (docs/portal.md, Access).",
            id="portal.W001",
        )
    ]


@register()
def lockout_settings_check(app_configs, **kwargs) -> list[Error]:
    """The lockout's numbers must make sense: refuse to start rather than never lock."""
    steps = settings.PORTAL_LOCKOUT_STEPS_MINUTES
    problems = []
    if settings.PORTAL_LOCKOUT_ATTEMPTS < 1:
        problems.append("PORTAL_LOCKOUT_ATTEMPTS must be at least 1")
    if not steps or any(int(m) < 1 for m in steps):
        problems.append(
            "PORTAL_LOCKOUT_STEPS_MINUTES must list at least one duration of 1 minute or more"
        )
    return [Error(f"{p}.", id="portal.E001") for p in problems]
