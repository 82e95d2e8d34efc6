"""axe-core in Playwright: run Deque's accessibility rules on the page a test has open.

axe-core is vendored (tests/browser/vendor/axe.min.js, its version in the README there), so
the Python-only quick start needs no node. It is injected with `page.evaluate(source)`:
Playwright sends that through the DevTools protocol (Runtime.evaluate), which the page's
Content-Security-Policy does not govern. `page.add_script_tag(path=...)` would not do: it
inserts an inline <script> element, which the portal's `script-src 'self'` blocks.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

VENDORED = Path(__file__).resolve().parent / "vendor" / "axe.min.js"

# WCAG 2.1 A and AA, and Deque's best practices (landmarks, heading order, ...).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = {"serious", "critical"}

RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                          resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 200),
                                impact: n.impact, summary: n.failureSummary})),
  }));
}"""


@cache
def _source() -> str:
    return VENDORED.read_text(encoding="utf-8")


def axe_violations(page) -> list[dict]:
    """Every axe violation on the page as loaded now: [{id, impact, help, nodes}]."""
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_source())
    return page.evaluate(RUN, TAGS)


def blocking(violations: list[dict]) -> list[str]:
    """One line per serious or critical violation on one element: rule, impact, target,
    html, and what axe says is wrong."""
    lines = []
    for violation in violations:
        for node in violation["nodes"]:
            impact = node["impact"] or violation["impact"]
            if impact in BLOCKING:
                summary = " ".join((node["summary"] or "").split())
                lines.append(
                    f"{violation['id']} ({impact}) at {node['target']}: {node['html']}"
                    f" -- {summary[:300]}"
                )
    return lines


def serious_violations(page, where: str = "") -> list[str]:
    """The serious or critical violations on the open page, each line prefixed with where
    (a page's name) and its URL."""
    label = f"{where} {page.url}".strip()
    return [f"[{label}] {line}" for line in blocking(axe_violations(page))]


def assert_accessible(page, where: str = "") -> None:
    """Fail listing every serious or critical axe violation on the open page."""
    found = serious_violations(page, where)
    assert not found, "axe found serious/critical violations:\n" + "\n".join(found)
