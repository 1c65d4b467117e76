"""Fixtures of the messaging tests: a controllable clock, approved variants made through the
real Wagtail workflow, debtors placed through the real placement service, a real SMTP server
on localhost (aiosmtpd) and a fake Twilio HTTP API on localhost."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

# Tuesday 10 March 2026, 15:00 UTC = 11:00 in New York (EDT): inside every US contact window.
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _compliance_rules_fresh():
    """Compliance caches its rules per process; each test reads them from its own database."""
    from compliance.selectors import rules_cache_reset

    rules_cache_reset()
    yield
    rules_cache_reset()


class Clock:
    """`django.utils.timezone.now`, under the test's control."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from django.utils import timezone

    fake = Clock(T0)
    monkeypatch.setattr(timezone, "now", fake)
    return fake


def while_held(hold: Callable[[], Any], then: Callable[[], Any]) -> tuple[Any, Any]:
    """Two transactions at once (PostgreSQL): `hold()` in a thread's transaction, kept open
    half a second after it returns, and `then()` in a second thread as soon as `hold` has
    returned, so that it meets the first's uncommitted writes. Returns both answers; an
    exception in either thread is raised here. Each thread closes its own connection."""
    from django.db import connections, transaction

    held, failures, answers = threading.Event(), [], {}

    def first() -> None:
        try:
            with transaction.atomic():
                answers["hold"] = hold()
                held.set()
                time.sleep(0.5)  # the second waits on this transaction meanwhile
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            held.set()
            connections.close_all()

    def second() -> None:
        try:
            held.wait(10)
            answers["then"] = then()
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    return answers["hold"], answers["then"]


def postgres_only() -> None:
    """Skip the calling test unless the database is PostgreSQL (concurrent transactions)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL")


@pytest.fixture
def committed_baseline(transactional_db):
    """For tests whose data must be committed (threads, subprocesses): the rows migrations
    load (rule packs, the library's groups, tones and workflow, the "Creditor users" group,
    Wagtail's root page, which its dashboard links to), put back if an earlier transactional
    test flushed them. Each step is idempotent."""
    from importlib import import_module

    from django.apps import apps
    from django.conf import settings
    from wagtail.coreutils import get_supported_content_language_variant
    from wagtail.models import Locale, Page

    from compliance.loading import rule_packs_load

    rule_packs_load()
    import_module("messaging.migrations.0002_library_setup").setup(apps, None)
    import_module("accounts.migrations.0008_creditor_users_role").setup(apps, None)
    if not Page.objects.filter(depth=1).exists():
        Locale.objects.get_or_create(
            language_code=get_supported_content_language_variant(settings.LANGUAGE_CODE)
        )
        Page.add_root(instance=Page(title="Root", slug="root"))


@pytest.fixture
def reviewer(db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("reviewer", "reviewer@example.com", "pw")
    user.groups.add(Group.objects.get(name="Compliance reviewers"))
    return user


@pytest.fixture
def editor(db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user("editor", "editor@example.com", "pw")
    user.groups.add(Group.objects.get(name="Content editors"))
    return user


def variant_approve(variant, user) -> None:
    """Submit the variant's latest revision to its workflow and approve every task."""
    state = variant.current_workflow_state
    if state is None:
        state = variant.get_workflow().start(variant, user)
    while state.status == state.STATUS_IN_PROGRESS and state.current_task_state:
        state.current_task_state.specific.approve(user=user)
        state.refresh_from_db()
    variant.refresh_from_db()


DEFAULT_TEXT = {
    "email": {
        "email_subject": "Your {{ creditor_name }} balance",
        "email_body": "Hello {{ first_name }},\n\nYou owe {{ balance }} (due {{ due_date }}).\n\n"
        "Pay here: {{ portal_link }}\n\nOr read https://example.org/help first.",
    },
    "sms": {"sms_text": "Hi {{ first_name }}, {{ balance }} is due. Pay: {{ portal_link }}"},
    "whatsapp": {"sms_text": "Hi {{ first_name }}, {{ balance }} is due: {{ portal_link }}"},
    "letter": {
        "letter_body": "Dear {{ first_name }} {{ last_name }},\n\nPlease pay {{ balance }}."
    },
}


@pytest.fixture
def make_variant(db, reviewer):
    """Make a variant through the editor's path (draft revision) and, unless `live=False`,
    approve it through the compliance workflow."""
    from messaging.models import MessageVariant, Tone

    def make(
        channel: str = "email",
        *,
        live: bool = True,
        name: str | None = None,
        stages: list[str] | None = None,
        regions: list[str] | None = None,
        language: str = "en",
        tone: str = "friendly",
        cta: str = "pay_in_full",
        **text: str,
    ) -> MessageVariant:
        fields = {**DEFAULT_TEXT[channel], **text}
        variant = MessageVariant(
            name=name or f"{channel} variant",
            channel=channel,
            language=language,
            tone=Tone.objects.get(slug=tone),
            cta=cta,
            stages=stages or ["early"],
            regions=regions or [],
            live=False,
            **fields,
        )
        variant.full_clean()
        variant.save()
        variant.save_revision(user=reviewer)
        if live:
            variant_approve(variant, reviewer)
        return variant

    return make


@pytest.fixture
def place_one(creditor):
    """Place one account (US-MA debtor by default) through the real placement service."""
    from accounts.tests.factories import place, row

    counter = {"n": 0}

    def make(**overrides: Any):
        counter["n"] += 1
        return place(creditor, row(counter["n"], **overrides))[0]

    return make


# --- a real SMTP server ----------------------------------------------------------------------


class SmtpSink:
    """Messages an aiosmtpd server on localhost received, parsed."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpSink]:
    """A real SMTP server on 127.0.0.1; Django's SMTP backend is pointed at it."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    with socket.socket() as probe:  # a free port (aiosmtpd checks readiness by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.MESSAGING_EMAIL_BACKEND = ""
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        yield sink
    finally:
        controller.stop()


# --- a fake Twilio API -----------------------------------------------------------------------


class FakeTwilio:
    """Twilio's Messages API on localhost: records requests, answers like Twilio."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_with: tuple[int, dict[str, Any]] | None = None
        self.sent: list[dict[str, Any]] = []

    def handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append(
                    {"path": self.path, "form": form, "auth": self.headers.get("Authorization")}
                )
                if fake.fail_with:
                    self._answer(*fake.fail_with)
                    return
                sid = f"SM{len(fake.sent):032d}"
                fake.sent.append({"sid": sid, "to": form.get("To"), "body": form.get("Body")})
                self._answer(201, {"sid": sid, "status": "queued"})

            def do_GET(self):
                self._answer(200, {"messages": [dict(m) for m in fake.sent]})

        return Handler


@pytest.fixture
def twilio(settings) -> Iterator[FakeTwilio]:
    fake = FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
    settings.TWILIO_ACCOUNT_SID = "AC" + "1" * 32
    settings.TWILIO_AUTH_TOKEN = "twilio-test-token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_WHATSAPP_FROM = "+14155238886"
    settings.MESSAGING_SMS_BACKEND = "messaging.backends.sms.TwilioBackend"
    settings.MESSAGING_WHATSAPP_BACKEND = "messaging.backends.sms.TwilioBackend"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
