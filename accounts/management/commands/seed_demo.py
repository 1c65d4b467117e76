"""`manage.py seed_demo`: a demo creditor, an admin, an API key and ~200 debtors. Idempotent,
except for the API key: keys are stored hashed and cannot be shown again, so with DEBUG on
(or `--api-key`) each run issues a fresh demo key, revokes the one before, and prints it;
with DEBUG off and no `--api-key` it issues none.

Debtors are spread over US, US-MA, US-WA, CA-ON, CA-QC, GB, IE, FR, DE and AU with names,
addresses and phone numbers of their locale; accounts are in several states, some with
payments and a plan. Everything goes through the real services, so a second run finds every
row unchanged and writes nothing new.
"""

from __future__ import annotations

import importlib
import os
import random
from datetime import date, timedelta
from decimal import Decimal

import phonenumbers
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import module_has_submodule
from faker import Faker

from accounts import money, regions, services
from accounts.api_keys import services as api_keys
from accounts.api_keys.models import ApiKey
from accounts.links import demo_verification_hint, portal_url
from accounts.models import (
    Account,
    AccountStatus,
    Creditor,
    CreditorUser,
    PaymentMethod,
)

# region -> (how many debtors, Faker locale, currency, area codes for phone numbers)
DEMO_REGIONS: dict[str, tuple[int, str, str, tuple[str, ...]]] = {
    "US": (30, "en_US", "USD", ("212", "312", "404", "713")),
    "US-MA": (20, "en_US", "USD", ("617", "508", "413")),
    "US-WA": (20, "en_US", "USD", ("206", "253", "509")),
    "CA-ON": (20, "en_CA", "CAD", ("416", "613", "905")),
    "CA-QC": (20, "fr_CA", "CAD", ("514", "418", "819")),
    "GB": (20, "en_GB", "GBP", ("7700", "7911", "7400")),
    "IE": (15, "en_IE", "EUR", ("85", "87", "83")),
    "FR": (20, "fr_FR", "EUR", ("6", "7")),
    "DE": (20, "de_DE", "EUR", ("151", "160", "170")),
    "AU": (15, "en_AU", "AUD", ("412", "423", "438")),
}
DEMO_SLUG = "demo"
API_USERNAME = "demo-api"
API_KEY_NAME = "Demo key (seed_demo)"
ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@example.com"
ANCHOR = date(2026, 1, 5)  # fixed, so re-running on another day changes nothing


def _phone(rng: random.Random, region: str, areas: tuple[str, ...]) -> str:
    """A valid mobile-looking number of the region's country (E.164)."""
    country = regions.country_of(region)
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    length = len(str(example.national_number))
    for _ in range(100):
        area = rng.choice(areas)
        digits = area + "".join(str(rng.randrange(10)) for _ in range(length - len(area)))
        number = phonenumbers.parse(digits, country)
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def demo_rows() -> list[dict]:
    """The demo placement: deterministic, so re-placing it changes nothing."""
    rng = random.Random(20260105)
    rows = []
    n = 0
    for region, (count, locale, currency, areas) in DEMO_REGIONS.items():
        fake = Faker(locale)
        fake.seed_instance(sum(map(ord, region)))
        for _ in range(count):
            n += 1
            first, last = fake.first_name(), fake.last_name()
            amount = Decimal(rng.randrange(4_000, 250_000)) / 100
            places = money.minor_units(currency)
            debtor = {
                "external_ref": f"D-{n:04d}",
                "first_name": first,
                "last_name": last,
                "email": f"{_ascii(first)}.{_ascii(last)}.{n}@example.com",
                "phone": _phone(rng, region, areas),
                "address_line1": fake.street_address().replace("\n", ", ")[:200],
                "city": fake.city()[:100],
                "postal_code": fake.postcode()[:20],
                "region": region,
                "date_of_birth": (
                    date(1950, 1, 1) + timedelta(days=rng.randrange(18_000))
                ).isoformat(),
            }
            rows.append(
                {
                    "external_ref": f"ACC-{n:04d}",
                    "currency": currency,
                    "original_amount": str(amount.quantize(Decimal(1).scaleb(-places))),
                    "due_date": (ANCHOR + timedelta(days=rng.randrange(0, 300))).isoformat(),
                    "description": rng.choice(
                        [
                            "Energy bill",
                            "Broadband contract",
                            "Mobile phone plan",
                            "Water bill",
                            "Gym membership",
                            "Personal loan instalments",
                        ]
                    ),
                    "debtor": debtor,
                }
            )
    return rows


def _ascii(text: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum()) or "debtor"


class Command(BaseCommand):
    help = (
        "Create (or leave as they are) the demo creditor, logins and ~200 debtors; with DEBUG "
        "on or --api-key, issue a fresh demo API key (revoking the last) and print it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--api-key",
            action="store_true",
            help="Issue a demo API key even with DEBUG off (with DEBUG on one is issued anyway).",
        )

    def handle(self, *args, api_key: bool = False, **options) -> None:
        admin_password = self._admin_password()
        creditor, demo_key = self._logins_ensure(admin_password, api_key=api_key)
        result = services.placement_upsert(
            creditor=creditor, rows=demo_rows(), actor="command:seed_demo"
        )
        self._apply_scenarios(creditor)
        self._apps_seed(creditor)
        self._report(result, creditor=creditor, admin_password=admin_password, demo_key=demo_key)

    def _logins_ensure(self, admin_password: str, *, api_key: bool) -> tuple[Creditor, str | None]:
        """The demo creditor, the admin user, the API user and (with DEBUG or `--api-key`) a
        fresh API key, in one transaction."""
        with transaction.atomic():
            creditor, _ = Creditor.objects.get_or_create(
                slug=DEMO_SLUG,
                defaults={
                    "name": "Demo Creditor",
                    "display_name": "Northwind Utilities",
                    "default_currency": "EUR",
                    "locale": "en",
                    "min_instalment": Decimal("10"),
                    "max_plan_months": 12,
                    "settlement_allowed": True,
                    "max_settlement_discount_pct": Decimal("15"),
                    "max_pause_days": 30,
                },
            )
            user_model = get_user_model()
            admin = user_model.objects.filter(username=ADMIN_USERNAME).first()
            if admin is None:
                admin = user_model.objects.create_superuser(
                    ADMIN_USERNAME, ADMIN_EMAIL, admin_password
                )
            api_user, _ = user_model.objects.get_or_create(username=API_USERNAME)
            CreditorUser.objects.get_or_create(user=api_user, defaults={"creditor": creditor})
            demo_key = self._demo_key(api_user) if settings.DEBUG or api_key else None
        return creditor, demo_key

    def _apps_seed(self, creditor: Creditor) -> None:
        # Every app may add its own demo data in `<app>/demo.py` (`seed(creditor=, stdout=)`);
        # found by name, so accounts imports none of the apps that build on it.
        for config in apps.get_app_configs():
            if module_has_submodule(config.module, "demo"):
                module = importlib.import_module(f"{config.name}.demo")
                if hasattr(module, "seed"):
                    module.seed(creditor=creditor, stdout=self.stdout)

    def _report(
        self,
        result: services.PlacementResult,
        *,
        creditor: Creditor,
        admin_password: str,
        demo_key: str | None,
    ) -> None:
        """What was seeded and how to get in: the admin login, the API key, a portal link."""
        summary = result.as_dict()["summary"]
        self.stdout.write(
            "Demo accounts: {created} created, {updated} updated, {unchanged} unchanged, "
            "{rejected} rejected.".format(**summary)
        )
        # The password is echoed only for the local demo (DEBUG on); anywhere else it was
        # chosen by whoever set DEMO_ADMIN_PASSWORD and stays out of the console and its logs.
        shown = admin_password if settings.DEBUG else "the DEMO_ADMIN_PASSWORD you set"
        self.stdout.write(
            f"\n  Admin login:   {ADMIN_USERNAME} / {shown} (set on first run; "
            "Wagtail /admin/, Django /django-admin/)"
        )
        if demo_key:
            self.stdout.write(
                f"  API key:       {demo_key} (user {API_USERNAME}, creditor {creditor.slug}; a "
                "new one each run, the one before revoked)"
            )
        else:
            self.stdout.write(
                "  API key:       none issued with DEBUG off (`seed_demo --api-key`, or "
                f"`manage.py api_key_create --creditor {creditor.slug} --name NAME`)"
            )
        sample = (
            Account.objects.filter(creditor=creditor, status=AccountStatus.ACTIVE)
            .select_related("debtor")
            .order_by("external_ref")
            .first()
        )
        if sample is not None:
            debtor = sample.debtor
            self.stdout.write(
                f"  Portal link:   {portal_url(debtor_id=debtor.pk)} (account "
                f"{sample.external_ref}; a fresh link each run, or `manage.py portal_link "
                f"{sample.external_ref} --creditor {creditor.slug}`)"
            )
            hint = demo_verification_hint(
                date_of_birth=debtor.date_of_birth, postal_code=debtor.postal_code
            )
            if hint:
                self.stdout.write(f"                 {hint}")

    def _demo_key(self, api_user) -> str:
        """A fresh demo API key; the demo keys issued before are revoked."""
        for old in ApiKey.objects.filter(user=api_user, name=API_KEY_NAME, revoked_at=None):
            api_keys.api_key_revoke(key=old, actor="command:seed_demo")
        _key, plaintext = api_keys.api_key_issue(
            user=api_user, name=API_KEY_NAME, actor="command:seed_demo"
        )
        return plaintext

    def _admin_password(self) -> str:
        """The demo superuser's password: `admin` for the local demo (DEBUG on); outside it,
        only a DEMO_ADMIN_PASSWORD that passes the password validators. Checked before anything
        is written; an existing `admin` user is left as it is."""
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "")
        if settings.DEBUG:
            return password or "admin"
        if get_user_model().objects.filter(username=ADMIN_USERNAME).exists():
            return password
        if not password:
            raise CommandError(
                "Refusing to create the demo superuser 'admin' with the password 'admin' while "
                "DEBUG is off: anyone could sign in. Set DEMO_ADMIN_PASSWORD to a password of "
                "at least 12 characters that is not a common one, or run the demo with DEBUG=1 "
                "(`make run` does)."
            )
        try:
            validate_password(
                password, user=get_user_model()(username=ADMIN_USERNAME, email=ADMIN_EMAIL)
            )
        except ValidationError as refused:
            raise CommandError(
                "DEMO_ADMIN_PASSWORD is not accepted: " + " ".join(refused.messages)
            ) from None
        return password

    def _apply_scenarios(self, creditor: Creditor) -> None:
        """Put some accounts into other states; only accounts still fresh are touched."""
        rng = random.Random(7)
        actor = "command:seed_demo"
        accounts = list(
            Account.objects.filter(creditor=creditor, external_ref__startswith="ACC-")
            .select_related("creditor", "debtor")
            .order_by("external_ref")
        )
        for account in accounts:
            scenario = rng.random()
            fresh = account.status == AccountStatus.ACTIVE and not account.payments.exists()
            if not fresh or account.plans.exists():
                continue
            key = f"demo-{account.external_ref}"
            if scenario < 0.08:  # paid in full
                services.payment_record(
                    account=account, amount=account.balance, idempotency_key=key,
                    method=PaymentMethod.CARD, provider="sandbox", actor=actor,
                )  # fmt: skip
            elif scenario < 0.20:  # part paid
                part = money.quantize(account.balance / 3, account.currency)
                services.payment_record(
                    account=account, amount=part, idempotency_key=key,
                    method=PaymentMethod.BANK_TRANSFER, provider="sandbox", actor=actor,
                )  # fmt: skip
            elif scenario < 0.26:  # in a plan
                services.plan_create(
                    account=account,
                    frequency="monthly",
                    count=min(6, max(1, int(account.balance // Decimal("20")))),
                    first_due=timezone.localdate() + timedelta(days=7),
                    actor=actor,
                )
            elif scenario < 0.30:
                services.account_transition(
                    account=account, status=AccountStatus.PAUSED, actor=actor
                )
            elif scenario < 0.34:
                services.account_transition(
                    account=account, status=AccountStatus.DISPUTED, actor=actor
                )
            elif scenario < 0.36:
                services.account_recall(account=account, actor=actor)
