"""The production settings with the standard mechanisms named in `BENCH_STANDARD` in place of
the project's own (`bench/standard.py` lists them). For benches only:
`DJANGO_SETTINGS_MODULE=bench.standard_settings`."""

from collections_site.settings.base import *  # noqa: F403
from collections_site.settings.base import INSTALLED_APPS, REDIS_URL, TEMPLATES

from .standard import pieces

_CHOSEN = pieces()

INSTALLED_APPS = [*INSTALLED_APPS, "bench.standard.Standard"]

if "sessions" in _CHOSEN:
    SESSION_ENGINE = (
        "django.contrib.sessions.backends.cached_db"
        if REDIS_URL
        else "django.contrib.sessions.backends.db"
    )

if "templates" in _CHOSEN:
    TEMPLATES = [
        *(t for t in TEMPLATES if t.get("NAME") != "portal"),
        {
            **next(t for t in TEMPLATES if t.get("NAME") == "portal"),
            "BACKEND": "django.template.backends.jinja2.Jinja2",
        },
    ]
    TEMPLATES[-1]["OPTIONS"] = {
        **TEMPLATES[-1]["OPTIONS"],
        "environment": "bench.standard.jinja2_environment",
    }
