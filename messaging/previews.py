"""Admin previews of a variant: one per tagged region, for a sample debtor of that region.

Each preview shows the final text exactly as a debtor there would get it, with the region's
required disclosures appended (from compliance; not editable), the SMS segment count where it
applies, and any problem as a message instead of an error page. Nothing is saved.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts import regions
from accounts.models import Account, Creditor, Debtor
from messaging import content, outbound, rendering
from messaging.models import Channel, MessageVariant

_SAMPLE_NAMES = {"en": ("Alex", "Morgan"), "fr": ("Camille", "Martin"), "de": ("Luca", "Schmidt")}
_COUNTRY_CURRENCY = {"US": "USD", "CA": "CAD", "GB": "GBP", "AU": "AUD"}
MISSING = "[{name}: not configured]"


def preview_regions(variant: MessageVariant) -> list[str]:
    """The regions to preview: the variant's tags, or representative ones for its language."""
    if variant.regions:
        return list(variant.regions)
    by_language: dict[str, list[str]] = settings.MESSAGING_PREVIEW_REGIONS
    return list(by_language.get(variant.language) or by_language.get("en") or ["US"])


def sample_debtor(region: str, language: str) -> tuple[Debtor, Account, Creditor]:
    """An unsaved debtor, account and creditor in `region` (never written to the database)."""
    country = regions.country_of(region)
    currency = _COUNTRY_CURRENCY.get(country, "EUR")
    first, last = _SAMPLE_NAMES.get(language, _SAMPLE_NAMES["en"])
    creditor = Creditor(name="Example Energy", display_name="Example Energy", locale=language)
    debtor = Debtor(
        creditor=creditor,
        first_name=first,
        last_name=last,
        email="sample@example.com",
        phone="+15555550100",
        address_line1="1 Sample Street",
        city="Sample City",
        postal_code="12345",
        region=region,
        timezone=regions.timezone_for(region),
        language=language,
    )
    today = timezone.localdate()
    account = Account(
        creditor=creditor,
        debtor=debtor,
        external_ref="INV-10042",
        description="Energy bill, winter quarter",
        currency=currency,
        original_amount=Decimal("1480.00"),
        current_balance=Decimal("1234.50"),
        due_date=today - timedelta(days=30),
        paused_until=today + timedelta(days=7),
    )
    return debtor, account, creditor


class _SampleInstalment:
    amount_due = Decimal("120.00")
    due_date: date

    def __init__(self) -> None:
        self.due_date = timezone.localdate() + timedelta(days=5)


def _render_one(variant: MessageVariant, region: str, *, initial: bool) -> dict[str, Any]:
    debtor, account, creditor = sample_debtor(region, variant.language)
    context = content.placeholder_context(
        debtor=debtor,
        account=account,
        creditor=creditor,
        # A letter prints a letter code (accounts.links); this one is a sample, ours to no one.
        portal_link=f"{settings.SITE_URL}/p/"
        + ("K3M9-TTQ4-ZZ7A-B2CD" if variant.channel == Channel.LETTER else "sample-link")
        + "/",
        opt_out_link=f"{settings.SITE_URL}/m/u/sample-opt-out/",
        next_instalment=_SampleInstalment,
    )
    result: dict[str, Any] = {"errors": [], "missing_fields": []}
    try:
        disclosures = content.required_disclosures(
            region=region, channel=variant.channel, language=variant.language, initial=initial
        )
    except Exception as exc:  # the preview must show the problem, not fail the admin page
        result["errors"].append(f"Could not load the region's disclosures: {exc}")
        disclosures = []
    values = content.disclosure_values(creditor=creditor, account=account, context=context)
    try:
        rendered = content.compose(
            variant=variant,
            channel=variant.channel,
            context=context,
            disclosures=disclosures,
            values=values,
            missing=MISSING,
        )
    except rendering.RenderError as exc:
        result["errors"].append(str(exc))
        return result
    result.update(
        subject=rendered.subject,
        body=rendered.body,
        paragraphs=[p for p in rendered.body.split("\n\n") if p.strip()],
        disclosures=rendered.disclosures,
    )
    result["missing_fields"] = sorted(
        {
            name
            for d in disclosures
            for name in rendering.disclosure_fields(d.text)
            if not values.get(name)
        }
    )
    if variant.channel in (Channel.SMS, Channel.WHATSAPP):
        result["segments"] = rendering.sms_segments(rendered.body).describe()
    if variant.channel == Channel.LETTER:  # printed beside the text, as the letter has it
        result["portal_qr"] = outbound.portal_qr_svg(rendered.links)
        result.update(outbound.portal_typed(rendered.links))
    return result


def variant_previews(*, variant: MessageVariant) -> list[dict[str, Any]]:
    """One preview per region; each also lists how later (non-initial) messages differ."""
    previews = []
    for region in preview_regions(variant):
        first = _render_one(variant, region, initial=True)
        later = _render_one(variant, region, initial=False)
        first_codes = [d["code"] for d in first.get("disclosures", [])]
        later_codes = [d["code"] for d in later.get("disclosures", [])]
        previews.append(
            {
                "region": region,
                "region_name": regions.name_of(region) if regions.is_valid(region) else region,
                "channel": variant.channel,
                "first": first,
                "later": later if later_codes != first_codes else None,
            }
        )
    return previews
