"""A message as its recipient received it, for the admin's outbox pages (read-only).

Built by the code that built it for the channel: `outbound.outbound_for` (tracked links,
headers, the email's HTML part, the letter's page) and, for email, `EmailBackend.build` (From,
To, Message-ID and the other headers). Nothing is stored at hand-off beyond the frozen content,
so this is a rebuild: it equals what was handed over as long as the templates and the settings
it reads (SITE_URL, SECRET_KEY for the signed links, MESSAGING_FROM_EMAIL, the sender's
disclosure values) have not changed since.

`preview_html` is the HTML made inert for showing in the admin: every link and image URL is
replaced (the open pixel by a blank image, tracked links by `#`, resolved against
`about:srcdoc`) and a restrictive CSP is put in its `<head>`, so looking at a message can never
count as an open or a click. The raw HTML is
kept in `html` for "view source".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape

from django.utils.html import escape

from messaging import rendering, tracking
from messaging.backends.email import EmailBackend
from messaging.models import Channel, Message
from messaging.outbound import outbound_for, tracked_links

PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"
_BLANK_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
_ATTR_RE = re.compile(r"""(\s)(href|src)=(["'])(.*?)\3""", re.IGNORECASE | re.DOTALL)
_HEAD_RE = re.compile(r"<head[^>]*>", re.IGNORECASE)
_PAGE_MARGIN_RE = re.compile(r"@page\s*\{[^}]*?\bmargin:\s*([0-9a-z. ]+)\s*[;}]", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AsSent:
    """What the channel was given for one message (see the module docstring)."""

    channel: str
    recipient: str
    sender: str = ""
    subject: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    html: str = ""
    preview_html: str = ""
    segments: rendering.Segments | None = None
    # (index, original URL, the URL the recipient got: click-tracked or direct)
    links: list[tuple[int, str, str]] = field(default_factory=list)


def _plain(value: str) -> str:
    """`value` as a plain `str`: the builders return Django's SafeString for HTML, which a
    template would insert unescaped. Here every part is data to show, never markup to run."""
    return str.__str__(value)  # str(value) and f"{value}" would keep the SafeString


def message_as_sent(message: Message) -> AsSent:
    """Rebuild what was (or will be) handed to the channel for `message`; writes nothing."""
    outbound = outbound_for(message)
    mapping = tracked_links(message)
    links = [(i, url, mapping.get(url, url)) for i, url in enumerate(message.links or [])]
    if message.channel == Channel.EMAIL:
        email = EmailBackend(channel=message.channel).build(outbound)
        html = next((body for body, kind in email.alternatives if kind == "text/html"), "")
        return AsSent(
            channel=message.channel,
            recipient=", ".join(email.to),
            sender=email.from_email,
            subject=_plain(email.subject),
            headers=dict(email.extra_headers),
            text=_plain(email.body),
            html=_plain(html),
            preview_html=inert_html(html, message),
            links=links,
        )
    if message.channel == Channel.LETTER:
        return AsSent(
            channel=message.channel,
            recipient=outbound.recipient,
            text=_plain(outbound.text),
            html=_plain(outbound.html),
            preview_html=inert_html(outbound.html, message, head=_page_on_screen(outbound.html)),
        )
    return AsSent(
        channel=message.channel,
        recipient=outbound.recipient,
        text=_plain(outbound.text),
        segments=rendering.sms_segments(outbound.text),
        links=links,
    )


def _page_on_screen(html: str) -> str:
    """A screen-only style giving the page the margins its `@page` rule gives it in print, so
    the preview shows the address where the envelope window will be."""
    match = _PAGE_MARGIN_RE.search(html)
    if not match:
        return ""
    rule = f"html > body {{ position: relative; margin: {match.group(1)}; }}"  # beats `body`
    return f"<style>@media screen {{ {rule} }}</style>"


def inert_html(html: str, message: Message, *, head: str = "") -> str:
    """`html` that fetches nothing and navigates nowhere: for a sandboxed `<iframe srcdoc>`.

    Every `href` becomes `#` (with the destination in a tooltip) and every `src` a blank image,
    so the open pixel, click-tracking and opt-out URLs can never be requested from the preview;
    the `<meta>` CSP blocks anything else that would load.
    """
    if not html:
        return ""
    targets = {tracked: url for url, tracked in tracked_links(message).items()}

    def replace(match: re.Match) -> str:
        space, name, _quote, value = match.groups()
        url = unescape(value)
        if name.lower() == "src":
            return f'{space}src="{_BLANK_GIF}"' if not url.startswith("data:") else match.group(0)
        if url.startswith("#"):
            return match.group(0)
        target = targets.get(url, url)
        if url.startswith(tracking.unsubscribe_prefix()):
            target = "the opt-out page"
        title = escape(f"Goes to {target} (not followed in this preview)")
        return f'{space}href="#" title="{title}"'

    inert = _plain(_ATTR_RE.sub(replace, html))
    # A srcdoc document resolves "#" against the admin page's URL: this base keeps a click on a
    # link inside the preview (a fragment navigation) from loading anything.
    meta = (
        f'<meta http-equiv="Content-Security-Policy" content="{PREVIEW_CSP}">'
        f'<base href="about:srcdoc">{head}'
    )
    head = _HEAD_RE.search(inert)
    if head:
        return f"{inert[: head.end()]}\n{meta}{inert[head.end() :]}"
    return meta + inert


def mask_recipient(channel: str, recipient: str) -> str:
    """A recipient shortened for listings: `ad…@example.com`, `+1…0123`, a letter's last line."""
    value = (recipient or "").strip()
    if not value:
        return ""
    if channel == Channel.EMAIL:
        local, at, domain = value.partition("@")
        return f"{local[:2]}…@{domain}" if at else f"{value[:2]}…"
    if channel == Channel.LETTER:
        lines = [line.strip() for line in value.splitlines() if line.strip()]
        return f"… {lines[-1]}" if len(lines) > 1 else f"{value[:2]}…"
    if len(value) <= 6:
        return "…" + value[-2:]
    return f"{value[:2]}…{value[-4:]}"
