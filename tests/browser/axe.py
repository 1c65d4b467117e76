"""axe-core in the browser tests: `axe_violations(page)` runs the vendored axe-core
(tests/browser/vendor/axe-core/, see its VERSION.md) over the page as it stands and returns
each violation of WCAG 2.0/2.1/2.2 A and AA as one readable line; `assert_accessible` fails
with them.

axe is put into the page with `page.evaluate`, which Chromium runs through its DevTools
protocol, outside the page's Content-Security-Policy: the page keeps its real policy
(`script-src 'self'`, no `bypass_csp`), so what axe sees is what a debtor's browser renders,
with every style and script the policy lets through and nothing it blocks.
"""

from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
# Failing tags: the rules axe has for WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe has no
# rule for a level-A criterion new in 2.2, so there is no `wcag22a` tag to ask for).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# And axe's landmark and heading rules, tagged best practice rather than WCAG: a screen reader
# user finds the page's parts by them (1.3.1 and 2.4.1 in spirit).
ALSO = ["region", "landmark-one-main", "landmark-no-duplicate-main", "landmark-unique",
        "page-has-heading-one"]  # fmt: skip

_source: str | None = None

_RUN = """async ([tags, also, include]) => {
  const context = include ? {include: [include]} : document;
  const result = await axe.run(context, {
    runOnly: {type: 'tag', values: tags},
    rules: Object.fromEntries(also.map(id => [id, {enabled: true}])),
    resultTypes: ['violations'],
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
  }));
}"""


def _axe_source() -> str:
    global _source
    if _source is None:
        _source = AXE_JS.read_text(encoding="utf-8")
    return _source


def axe_violations(page, include: str | None = None) -> list[str]:
    """The page's violations, one line per element: `rule-id (impact) at target: help`.
    `include` limits the check to the part of the page a CSS selector names (and leaves out
    the whole-page rules of `ALSO`)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    found = page.evaluate(_RUN, [TAGS, [] if include else ALSO, include])
    return [
        f"{v['id']} ({v['impact']}) at {n['target']}: {v['help']} [{v['url']}]"
        + (f"\n      {n['summary'].replace(chr(10), chr(10) + '      ')}" if n["summary"] else "")
        for v in found
        for n in v["nodes"]
    ]


def assert_accessible(page, state: str, include: str | None = None) -> None:
    """Fail, naming the page state and each violation, unless axe finds none."""
    problems = axe_violations(page, include)
    assert not problems, f"{state} ({page.url}):\n  " + "\n  ".join(problems)
