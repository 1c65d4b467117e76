"""The standard mechanisms, for benches to run side by side with the project's own.

A few places of the project once replaced a standard mechanism with a faster one of their own;
this module puts the standard one back, in a bench process only, so the two can be measured
against each other in one run (docs/benchmarks.md, "Standard mechanisms and the exceptions
kept"). Production code never reads it.

`BENCH_STANDARD` names the pieces to put back, comma-separated (or `all`):

- `templates`: the portal's Jinja2 pages translated at render time by `jinja2.ext.i18n`
  with Django's gettext (`install_gettext_callables`), in one environment, on Django's own
  Jinja2 backend.
- `sessions`: Django's own session engine (`db`, or `cached_db` with `REDIS_URL`).
- `accounts_query`: the portal's `accounts_of` as an ORM queryset.
- `gc`: gunicorn workers without `gc.freeze()` after start-up (`bench/portal.py` only).
- `qr`: a letter's QR code with the data mask segno chooses (all eight scored) instead of
  `messaging.outbound.QR_MASK` (`bench/messaging.py --channels letter`).
- `db`, `lock`, `money`: Django's PostgreSQL backend with `CONN_HEALTH_CHECKS`,
  `accounts_lock` re-reading with `select_for_update`, babel's `format_currency`. The
  project has gone back to these standard mechanisms, so the names are accepted and change
  nothing; their figures were taken on the commit that still had its own
  (docs/benchmarks.md).

The settings pieces take effect through `bench.standard_settings` (`DJANGO_SETTINGS_MODULE`),
which also installs this module's app; its `ready()` applies the code pieces.
"""

from __future__ import annotations

import os
from typing import Any

from django.apps import AppConfig

PIECES = ("templates", "sessions", "db", "accounts_query", "lock", "money", "gc", "qr")


def pieces() -> set[str]:
    """The pieces named in `BENCH_STANDARD`."""
    named = {p.strip() for p in os.environ.get("BENCH_STANDARD", "").split(",") if p.strip()}
    if "all" in named:
        return set(PIECES)
    unknown = named - set(PIECES)
    if unknown:
        raise ValueError(f"BENCH_STANDARD: unknown pieces {sorted(unknown)}; known: {PIECES}")
    return named


def jinja2_environment(**options: Any):
    """The portal's Jinja2 environment with Jinja2's own i18n extension: each `_("...")`
    is Django's `gettext` at render time. The translation is trusted text, as in Django's
    `{% translate %}` (a `Markup`), so `|format` escapes the values put into it."""
    import jinja2
    from django.utils.translation import gettext, ngettext
    from markupsafe import Markup

    from portal import templating

    options["extensions"] = [*options.get("extensions", ()), "jinja2.ext.i18n"]
    env = jinja2.Environment(autoescape=options.pop("autoescape", True), **options)
    env.install_gettext_callables(
        # Catalogue text is the project's own, trusted like Django's {% translate %}.
        lambda message: Markup(gettext(message)),  # noqa: S704
        lambda singular, plural, n: Markup(ngettext(singular, plural, n)),  # noqa: S704
        newstyle=False,
    )
    env.globals["static"] = getattr(templating, "_static", None) or _static
    return env


def _static(path: str) -> str:
    from django.templatetags.static import static

    return static(path)


def _accounts_of(*, debtor_id: int):
    from accounts.models import Account

    accounts = list(
        Account.objects.filter(debtor_id=debtor_id)
        .select_related("creditor", "debtor__creditor")
        .order_by("-placed_at")
    )
    accounts.sort(key=lambda a: not a.is_open)
    return accounts


class Standard(AppConfig):
    name = "bench.standard"
    label = "bench_standard"

    def ready(self) -> None:
        chosen = pieces()
        if "qr" in chosen:
            from messaging import outbound

            outbound.QR_MASK = None
        if "accounts_query" in chosen:
            from portal import selectors

            selectors.accounts_of = _accounts_of
