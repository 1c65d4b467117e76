"""The cockpit's charts: inline SVG drawn on the server, with no script and nothing loaded
from elsewhere (the admin's Content-Security-Policy allows scripts from 'self' only).

Each chart is built from plain values and renders itself (`str(chart)` is safe HTML, every
label escaped by `format_html`): a `<figure>` whose caption is the chart's title and names its
`<svg role="group">` (a group, not an image: its marks are links), whose marks link to the
rows they count and carry a `<title>` tooltip, followed by the same figures as a table
(`ChartTable`) for screen readers and for people who read numbers. Colours are CSS classes
(`ops-s1` ... `ops-s6`, `ops-band`, `ops-heat`) that `cockpit.css` sets for Wagtail's light
and dark themes.

Three kinds: `LineChart` (series over time, each with an optional 95% band), `BarChart`
(grouped or stacked bars; grouped bars with an optional 95% whisker each, so a rate from a
handful of messages shows how little it says) and `Heatmap` (a grid of rates).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 44
_ids = count(1)
FOLD_ROWS = 12
"""A table longer than this folds away under its chart (`<details>`, open on a click)."""


def _n(value: float) -> str:
    """A coordinate, to a tenth of a unit."""
    return f"{value:.1f}"


def _plain(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def percent(value: float) -> str:
    return f"{value:.1%}" if abs(value) < 0.1 else f"{value:.0%}"


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""

    def __html__(self) -> str:
        if self.url:
            return format_html('<a href="{}">{}</a>', self.url, self.text)
        return format_html("{}", self.text)


@dataclass
class ChartTable:
    """The chart's figures as a table: `headers` then `rows` of `Cell`s (or plain text)."""

    caption: str
    headers: Sequence[str]
    rows: list[Sequence[Cell | str]]

    def __str__(self) -> SafeString:
        head = format_html_join("", '<th scope="col">{}</th>', ((h,) for h in self.headers))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html_join(
                        "",
                        "<{}>{}</{}>",
                        (
                            ("th scope=row" if i == 0 else "td", c, "th" if i == 0 else "td")
                            for i, c in enumerate(row)
                        ),
                    ),
                )
                for row in self.rows
            ),
        )
        table = format_html(
            '<table class="ops-table"><caption>{}</caption><thead><tr>{}</tr></thead>'
            "<tbody>{}</tbody></table>",
            self.caption,
            head,
            body,
        )
        if len(self.rows) <= FOLD_ROWS:
            return table
        return format_html(
            '<details class="ops-fold"><summary>{}</summary>{}</details>',
            _("%(caption)s: the table (%(rows)s rows)")
            % {"caption": self.caption, "rows": len(self.rows)},
            table,
        )

    __html__ = __str__


def nice_ticks(low: float, high: float, n: int = 5) -> list[float]:
    """Round tick values covering [low, high] (about `n` of them)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / n
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step) + 1)]


@dataclass
class Series:
    name: str
    values: Sequence[float | None]
    band: Sequence[tuple[float, float] | None] | None = None
    """Per point, the 95% interval: a shaded band around a line, a whisker on a bar (bars
    side by side only: a stacked bar's parts have no interval of their own)."""
    urls: Sequence[str] | None = None
    """Per point (or per bar), the page listing the rows it counts."""


@dataclass
class _Frame:
    """The plot area and the value axis shared by line and bar charts."""

    ticks: list[float]
    fmt: Callable[[float], str]

    def y(self, value: float) -> float:
        low, high = self.ticks[0], self.ticks[-1]
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value - low) / ((high - low) or 1))

    def axis(self) -> SafeString:
        return format_html_join(
            "",
            '<line class="ops-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="ops-tick" x="{}" y="{}" text-anchor="end">{}</text>',
            (
                (LEFT, WIDTH - RIGHT, _n(y), _n(y), LEFT - 6, _n(y + 4), self.fmt(t))
                for t, y in ((t, self.y(t)) for t in self.ticks)
            ),
        )


def _frame(values: list[float], fmt, zero: bool = True) -> _Frame:
    low = min([*values, 0.0] if zero else values or [0.0])
    high = max(values or [1.0])
    return _Frame(nice_ticks(low, high), fmt)


def _x_labels(labels: Sequence[str], xs: Sequence[float]) -> SafeString:
    every = max(1, math.ceil(len(labels) / 12))  # at most a dozen labels: they never overlap
    return format_html_join(
        "",
        '<text class="ops-tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (_n(x), HEIGHT - BOTTOM + 18, label)
            for i, (x, label) in enumerate(zip(xs, labels, strict=True))
            if i % every == 0
        ),
    )


def _legend(names: Sequence[str]) -> SafeString:
    if len(names) < 2:
        return mark_safe("")
    return format_html(
        '<ul class="ops-legend">{}</ul>',
        format_html_join(
            "",
            '<li><span class="ops-key ops-s{}" aria-hidden="true"></span>{}</li>',
            ((i % 6 + 1, n) for i, n in enumerate(names)),
        ),
    )


def _svg(title: str, body: SafeString, legend: SafeString) -> SafeString:
    ident = f"ops-chart-{next(_ids)}"
    return format_html(
        '<figure class="ops-chart"><figcaption id="{}" class="ops-chart-title">{}</figcaption>'
        '<svg viewBox="0 0 {} {}" role="group" aria-labelledby="{}" '
        'preserveAspectRatio="xMidYMid meet">{}</svg>{}</figure>',
        ident,
        title,
        WIDTH,
        HEIGHT,
        ident,
        body,
        legend,
    )


def _empty(title: str) -> SafeString:
    """What a chart with nothing to draw shows instead."""
    return format_html(
        '<figure class="ops-chart ops-chart--empty">'
        '<figcaption class="ops-chart-title">{}</figcaption>'
        '<p class="ops-section-note">{}</p></figure>',
        title,
        _("Nothing to show for these filters yet."),
    )


def _whisker(frame: _Frame, x: float, band: tuple[float, float]) -> SafeString:
    """A 95% interval drawn across a bar: a vertical line with a cap at each end."""
    low, high = frame.y(band[0]), frame.y(band[1])
    return format_html(
        '<path class="ops-whisker" d="M{} {}V{}M{} {}h{}M{} {}h{}"/>',
        _n(x), _n(low), _n(high), _n(x - 4), _n(low), 8, _n(x - 4), _n(high), 8,
    )  # fmt: skip


def _mark(url: str, tip: str, shape: SafeString) -> SafeString:
    """A mark with its tooltip; a link to its rows when there is a page listing them."""
    inner = format_html("<title>{}</title>{}", tip, shape)
    return (
        format_html('<a href="{}">{}</a>', url, inner) if url else format_html("<g>{}</g>", inner)
    )


@dataclass
class LineChart:
    """Series over the same x labels (days, weeks, months); a point may be None (no data)."""

    title: str
    labels: Sequence[str]
    series: list[Series]
    fmt: Callable[[float], str] = _plain
    zero: bool = True
    """Whether the value axis starts at zero (off for an uplift, which may be negative)."""
    table: ChartTable | None = None

    def _xs(self) -> list[float]:
        n = len(self.labels)
        span = WIDTH - LEFT - RIGHT
        return [LEFT + (span * i / (n - 1) if n > 1 else span / 2) for i in range(n)]

    def __str__(self) -> SafeString:
        values = [v for s in self.series for v in s.values if v is not None]
        if not values:
            return _empty(self.title)
        values += [b for s in self.series for p in (s.band or []) if p for b in p]
        frame = _frame(values, self.fmt, self.zero)
        xs = self._xs()
        parts = [frame.axis(), _x_labels(self.labels, xs)]
        for k, s in enumerate(self.series):
            css = f"ops-s{k % 6 + 1}"
            if s.band:
                pts = [(x, b) for x, b in zip(xs, s.band, strict=True) if b is not None]
                if pts:
                    outline = [f"{x:.1f},{frame.y(b[1]):.1f}" for x, b in pts]
                    outline += [f"{x:.1f},{frame.y(b[0]):.1f}" for x, b in reversed(pts)]
                    parts.append(
                        format_html(
                            '<polygon class="ops-band {}" points="{}"/>', css, " ".join(outline)
                        )
                    )
            line = [
                f"{x:.1f},{frame.y(v):.1f}"
                for x, v in zip(xs, s.values, strict=True)
                if v is not None
            ]
            parts.append(
                format_html('<polyline class="ops-line {}" points="{}"/>', css, " ".join(line))
            )
            for i, (x, v) in enumerate(zip(xs, s.values, strict=True)):
                if v is None:
                    continue
                tip = f"{s.name}, {self.labels[i]}: {self.fmt(v)}"
                if s.band and s.band[i]:
                    tip += f" [{self.fmt(s.band[i][0])}, {self.fmt(s.band[i][1])}]"
                url = s.urls[i] if s.urls else ""
                dot = format_html(
                    '<circle class="ops-dot {}" cx="{}" cy="{}" r="3.5"/>',
                    css,
                    _n(x),
                    _n(frame.y(v)),
                )
                parts.append(_mark(url, tip, dot))
        body = mark_safe("".join(parts))  # noqa: S308 - every part built by format_html
        return format_html(
            "{}{}", _svg(self.title, body, _legend([s.name for s in self.series])), self.table or ""
        )

    __html__ = __str__


@dataclass
class BarChart:
    """Bars per category label: one bar per series side by side, or `stacked`."""

    title: str
    labels: Sequence[str]
    series: list[Series]
    fmt: Callable[[float], str] = _plain
    stacked: bool = False
    table: ChartTable | None = None

    def __str__(self) -> SafeString:
        if not self.labels or not any(v for s in self.series for v in s.values):
            return _empty(self.title)
        n = len(self.labels)
        totals = [sum((s.values[i] or 0) for s in self.series) for i in range(len(self.labels))]
        values = totals if self.stacked else [v or 0 for s in self.series for v in s.values]
        whiskers = not self.stacked and any(s.band for s in self.series)
        if whiskers:
            values += [b[1] for s in self.series for b in (s.band or []) if b]
        frame = _frame(values, self.fmt)
        slot = (WIDTH - LEFT - RIGHT) / n
        width = slot * 0.8 / (1 if self.stacked else max(1, len(self.series)))
        centres = [LEFT + slot * (i + 0.5) for i in range(n)]
        parts = [frame.axis(), _x_labels(self.labels, centres)]
        for i in range(len(self.labels)):
            base = 0.0
            for k, s in enumerate(self.series):
                v = s.values[i] or 0
                x = centres[i] - slot * 0.4 + (0 if self.stacked else k * width)
                low, high = (base, base + v) if self.stacked else (0.0, v)
                top, bottom = frame.y(high), frame.y(low)
                rect = format_html(
                    '<rect class="ops-bar ops-s{}" x="{}" y="{}" width="{}" height="{}"/>',
                    k % 6 + 1,
                    _n(x),
                    _n(top),
                    _n(max(width - 1, 1)),
                    _n(max(bottom - top, 0)),
                )
                tip = f"{s.name}, {self.labels[i]}: {self.fmt(v)}"
                band = s.band[i] if whiskers and s.band else None
                if band:
                    rect = format_html("{}{}", rect, _whisker(frame, x + width / 2, band))
                    tip += f" [{self.fmt(band[0])}, {self.fmt(band[1])}]"
                parts.append(_mark(s.urls[i] if s.urls else "", tip, rect))
                base += v if self.stacked else 0
        body = mark_safe("".join(parts))  # noqa: S308 - every part built by format_html
        return format_html(
            "{}{}", _svg(self.title, body, _legend([s.name for s in self.series])), self.table or ""
        )

    __html__ = __str__


@dataclass
class Heatmap:
    """A grid of rates (`values[row][col]`, None: no sends), shaded from 0 to the largest,
    each cell labelled with its rate and, in the tooltip, the count behind it."""

    title: str
    rows: Sequence[str]
    cols: Sequence[str]
    values: Sequence[Sequence[float | None]]
    notes: Sequence[Sequence[str]] = field(default_factory=list)
    urls: Sequence[Sequence[str]] = field(default_factory=list)
    fmt: Callable[[float], str] = percent
    table: ChartTable | None = None

    def __str__(self) -> SafeString:
        if all(v is None for r in self.values for v in r):
            return _empty(self.title)
        top = max((v for r in self.values for v in r if v is not None), default=0.0) or 1.0
        cw = (WIDTH - LEFT - RIGHT) / max(1, len(self.cols))
        ch = (HEIGHT - TOP - BOTTOM) / max(1, len(self.rows))
        parts = [_x_labels(self.cols, [LEFT + cw * (j + 0.5) for j in range(len(self.cols))])]
        for i, name in enumerate(self.rows):
            y = TOP + ch * i
            parts.append(
                format_html(
                    '<text class="ops-tick" x="{}" y="{}" text-anchor="end">{}</text>',
                    LEFT - 6,
                    _n(y + ch / 2 + 4),
                    name,
                )
            )
            for j, v in enumerate(self.values[i]):
                x = LEFT + cw * j
                level = 0 if v is None else 1 + round(5 * v / top)  # 0 empty, 1..6 shades
                rect = format_html(
                    '<rect class="ops-heat ops-heat-{}" x="{}" y="{}" width="{}" height="{}"/>',
                    level,
                    _n(x + 1),
                    _n(y + 1),
                    _n(cw - 2),
                    _n(ch - 2),
                )
                note = self.notes[i][j] if self.notes else ""
                tip = f"{name} {self.cols[j]}: " + ("no sends" if v is None else self.fmt(v))
                tip += f" ({note})" if note else ""
                url = self.urls[i][j] if self.urls else ""
                parts.append(_mark(url, tip, rect))
        body = mark_safe("".join(parts))  # noqa: S308 - every part built by format_html
        return format_html("{}{}", _svg(self.title, body, mark_safe("")), self.table or "")

    __html__ = __str__
