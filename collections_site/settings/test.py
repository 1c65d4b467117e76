"""Settings for pytest: base settings with a fixed key, fast hashing and synchronous tasks."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
# Tests never read a developer's .env (`make run` writes one with DEBUG on): the same suite
# runs the same way on a fresh clone and in a working folder.
os.environ["ENV_FILE"] = ""

from .base import *  # noqa: F403
from .base import Q_CLUSTER, STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests run tasks in-process so a flow can be followed end to end.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SECURE_SSL_REDIRECT = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Serve static files from the apps' folders: tests never run collectstatic.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# File channel backends write into a throwaway folder, never into the project.
MESSAGING_OUTBOX_DIR = Path(tempfile.mkdtemp(prefix="messaging-outbox-"))
# Admin tests sign in with force_login and no second factor; the two-factor tests turn it on.
STAFF_2FA_REQUIRED = False
