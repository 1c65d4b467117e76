"""What a variant says to one debtor: the placeholder context, disclosures and the final text.

Used by `messaging.services` when a message is planned (the result is frozen on the `Message`)
and by the Wagtail preview (with an unsaved sample debtor). Editors' text goes through the
sandboxed `messaging.rendering`; the region's required disclosures come from
`compliance.services.disclosures_required` and are appended after the editor's text, so an
editor can never leave them out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from babel.dates import format_date
from django.conf import settings

from accounts import money, regions
from accounts.links import portal_url
from accounts.models import Account, Creditor, Debtor
from accounts.selectors import instalment_next
from compliance.services import disclosures_required
from messaging import rendering, tracking
from messaging.models import CHANNEL_FIELDS, Channel, MessageVariant

URL_RE = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
"""A URL inside plain text (trailing punctuation is not part of it)."""


@dataclass
class Rendered:
    """A variant rendered for one debtor and account: what a `Message` freezes."""

    subject: str
    body: str
    disclosures: list[dict[str, str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


def locale_for(debtor: Debtor) -> str:
    """The babel locale for a debtor: their language in their region's country (fr_CA)."""
    return regions.babel_locale(debtor.language or "en", debtor.region or "")


def _date(value: date | None, locale: str) -> str:
    return format_date(value, format="long", locale=locale) if value else ""


def _next_instalment(account: Account) -> Any | None:
    return instalment_next(account_id=account.pk) if account.pk is not None else None


class PlaceholderValues(Mapping[str, str]):
    """The placeholder context of one message: every name of `rendering.PLACEHOLDERS`, each
    value computed the first time it is read (formatting money, signing links and reading the
    plan cost time, and most messages use a few placeholders only)."""

    def __init__(self, factories: dict[str, Callable[[], str]]) -> None:
        self._factories = factories
        self._values: dict[str, str] = {}

    def __getitem__(self, name: str) -> str:
        if name not in self._values:
            self._values[name] = self._factories[name]()
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


def _lazy(value: str | Callable[[], str]) -> Callable[[], str]:
    return value if callable(value) else (lambda: value)


def placeholder_context(
    *,
    debtor: Debtor,
    account: Account,
    creditor: Creditor,
    portal_link: str | Callable[[], str],
    opt_out_link: str | Callable[[], str],
    next_instalment: Callable[[], Any | None] = lambda: None,
) -> PlaceholderValues:
    """Every `rendering.PLACEHOLDERS` value for one debtor and account ("" when unknown)."""
    contact = settings.MESSAGING_CONTACT
    locale = lru_cache(maxsize=1)(lambda: locale_for(debtor))
    instalment = lru_cache(maxsize=1)(next_instalment)

    def amount(value: Any) -> str:
        return money.format_money(value, account.currency, locale())

    def instalment_amount() -> str:
        due = instalment()
        return amount(due.amount_due) if due else ""

    def instalment_date() -> str:
        due = instalment()
        return _date(due.due_date, locale()) if due else ""

    return PlaceholderValues(
        {
            "first_name": lambda: debtor.first_name,
            "last_name": lambda: debtor.last_name,
            "creditor_name": lambda: creditor.display_name or creditor.name,
            "balance": lambda: amount(account.current_balance),
            "original_amount": lambda: amount(account.original_amount),
            "account_reference": lambda: account.external_ref,
            "description": lambda: account.description,
            "due_date": lambda: _date(account.due_date, locale()),
            "instalment_amount": instalment_amount,
            "instalment_due_date": instalment_date,
            "pause_end_date": lambda: _date(account.paused_until, locale()),
            "portal_link": _lazy(portal_link),
            "opt_out_link": _lazy(opt_out_link),
            "contact_phone": lambda: contact.get("phone", ""),
            "contact_email": lambda: contact.get("email", ""),
        }
    )


class _DisclosureValues(dict):
    """Disclosure field values; the ones taken from the placeholder context are computed only
    when a disclosure text needs them."""

    def __init__(self, base: dict[str, str], context: Mapping[str, str]) -> None:
        super().__init__(base)
        self._context = context

    def __missing__(self, name: str) -> str:
        source = _FROM_CONTEXT.get(name)
        if source is None:
            raise KeyError(name)
        value = self[name] = self._context[source]
        return value

    def get(self, name, default=None):  # type: ignore[override]
        try:
            return self[name]
        except KeyError:
            return default


_FROM_CONTEXT = {
    "opt_out_url": "opt_out_link",
    "creditor_name": "creditor_name",
    "itemised_amount": "balance",
}


def disclosure_values(
    *, creditor: Creditor, account: Account, context: Mapping[str, str]
) -> dict[str, str]:
    """Values for the `{name}` fields of compliance disclosure texts.

    Deployment facts (collector name and address, licence numbers, ...) come from the
    `MESSAGING_DISCLOSURE_VALUES` setting; account facts from the account. A field without a
    value refuses the message (never a disclosure with a hole in it).
    """
    values = _DisclosureValues(
        {k: v for k, v in settings.MESSAGING_DISCLOSURE_VALUES.items() if v}, context
    )
    if account.description:
        values["claim_basis"] = account.description
    # A creditor address, when the accounts app records one, beats the deployment default.
    address = getattr(creditor, "address", "")
    if address:
        values["creditor_address"] = address
    return values


def required_disclosures(*, region: str, channel: str, language: str, initial: bool) -> list[Any]:
    """The compliance disclosures for a message."""
    return list(
        disclosures_required(region=region, channel=channel, language=language, initial=initial)
    )


def links_in(text: str) -> list[str]:
    """The distinct URLs in `text`, in order of appearance."""
    seen: dict[str, None] = {}
    for match in URL_RE.finditer(text):
        seen.setdefault(match.group(0), None)
    return list(seen)


def compose(
    *,
    variant: MessageVariant,
    channel: str,
    context: Mapping[str, str],
    disclosures: list[Any],
    values: Mapping[str, str],
    missing: str | None = None,
) -> Rendered:
    """Render the variant's text for `channel` and append the filled disclosures.

    Raises `rendering.RenderError` for content that cannot be sent. With `missing` (previews
    only), disclosure fields without a value are shown as that marker instead of refusing.
    """
    fields = CHANNEL_FIELDS[channel]
    subject = rendering.render(variant.email_subject, context) if channel == Channel.EMAIL else ""
    text = rendering.render(getattr(variant, fields[-1]) or "", context).strip()
    filled: list[dict[str, str]] = []
    for disclosure in disclosures:
        if missing is not None:
            fill = {name: values.get(name) or missing.format(name=name)
                    for name in rendering.disclosure_fields(disclosure.text)}  # fmt: skip
            filled_text = rendering.fill_disclosure(disclosure.text, fill)
        else:
            filled_text = rendering.fill_disclosure(disclosure.text, values)
        filled.append(
            {
                "code": disclosure.code,
                "topic": disclosure.topic,
                "language": disclosure.language,
                "text": filled_text,
            }
        )
    texting = channel in (Channel.SMS, Channel.WHATSAPP)
    if texting and not any(d["topic"].startswith("opt_out") for d in filled):
        # Every text message must say how to stop them; without the region's wording, none.
        raise rendering.RenderError(f"The region has no opt-out text for {channel} messages.")
    separator = "\n" if texting else "\n\n"
    body = separator.join([text, *(d["text"] for d in filled)]) if filled else text
    if channel == Channel.SMS:  # billed by the segment; WhatsApp by the message
        body = rendering.sms_gsm_spaces(body)
    return Rendered(subject=subject, body=body, disclosures=filled, links=links_in(body))


def recipient_for(debtor: Debtor, channel: str) -> str:
    """Where a message on `channel` goes for this debtor ("" if the debtor has no address)."""
    if channel == Channel.EMAIL:
        return debtor.email
    if channel in (Channel.SMS, Channel.WHATSAPP):
        return debtor.phone
    lines = [
        debtor.full_name,
        debtor.address_line1,
        debtor.address_line2,
        f"{debtor.postal_code} {debtor.city}".strip(),
        regions.name_of(regions.country_of(debtor.region)) if debtor.region else "",
    ]
    if not debtor.address_line1 or not (debtor.city or debtor.postal_code):
        return ""
    return "\n".join(line for line in lines if line)


def message_render(
    *,
    variant: MessageVariant,
    debtor: Debtor,
    account: Account,
    channel: str,
    initial: bool,
    disclosure_cache: dict[tuple[str, str, str, bool], list[Any]] | None = None,
) -> Rendered:
    """Render `variant` for a real debtor and account at planning time (frozen afterwards).

    `disclosure_cache` (one dict per batch) saves asking compliance again for a region,
    channel, language and initial flag already seen.
    """
    creditor = account.creditor
    context = placeholder_context(
        debtor=debtor,
        account=account,
        creditor=creditor,
        # A letter prints a letter code: short enough to type, and valid longer (accounts.links).
        portal_link=lambda: portal_url(debtor_id=debtor.pk, paper=channel == Channel.LETTER),
        opt_out_link=lambda: tracking.unsubscribe_url(debtor_id=debtor.pk, channel=channel),
        next_instalment=lambda: _next_instalment(account),
    )
    key = (debtor.region, channel, variant.language, initial)
    cache = {} if disclosure_cache is None else disclosure_cache
    if key not in cache:
        cache[key] = required_disclosures(
            region=debtor.region, channel=channel, language=variant.language, initial=initial
        )
    disclosures = cache[key]
    values = disclosure_values(creditor=creditor, account=account, context=context)
    return compose(
        variant=variant, channel=channel, context=context, disclosures=disclosures, values=values
    )
