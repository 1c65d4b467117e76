"""How casework pages write values: times in the viewer's zone (Wagtail activates the
operator's zone per request) and, where the debtor's day matters, on the debtor's own clock;
amounts in their currency; links to other admin pages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.admin_display import money_text


def local(value: datetime | date | None, fmt: str = "Y-m-d H:i") -> SafeString | str:
    """A stored UTC time in the operator's zone; a date as it is."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _time(value, date_format(timezone.localtime(value), fmt))
    return _time(value, date_format(value, "Y-m-d"))


def _time(value: datetime | date, text: str) -> SafeString:
    """A `<time>` element (kept on one line by the stylesheet), machine-readable in UTC."""
    return format_html('<time class="cw-time" datetime="{}">{}</time>', value.isoformat(), text)


def debtor_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def on_clock(value: datetime | None, zone: ZoneInfo | None) -> SafeString | str:
    """`value` on the debtor's wall clock (weekday included: it is their day that matters)."""
    if value is None or zone is None:
        return ""
    return _time(value, date_format(value.astimezone(zone), "D Y-m-d H:i"))


def amount(value: Decimal | None, currency: str) -> str:
    return "" if value is None else money_text(value, currency)


def link(url: str, text: object) -> SafeString | str:
    """`text` linking to `url`, or plain text when there is no url (a page the viewer may not
    open)."""
    return format_html('<a href="{}">{}</a>', url, text) if url else str(text)
