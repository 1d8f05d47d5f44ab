"""The shared accessibility check for browser tests: axe-core against WCAG 2.2 A and AA.

`assert_accessible(page)` runs axe-core (pinned in the repository's package.json, installed
into node_modules/ by `make install`) on the page as it is now and fails listing every
violation: rule, impact, what it asks for, and each offending element with axe's summary.

The script goes in through `page.evaluate` (the DevTools protocol), which the page's
Content-Security-Policy does not govern; contexts opened with `bypass_csp=True` work as
well. Keeping the CSP in force is deliberate: the browser tests also count console errors,
and a bypassed CSP would hide the very violations they look for. axe itself needs no eval.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe tags each rule with the version that added it).
WCAG_22_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")


@cache
def axe_source() -> str:
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run `make install` (npm ci installs axe-core)")
    return AXE.read_text(encoding="utf-8")


def violations(
    page: Any, *, include: str | None = None, disable: tuple[str, ...] = ()
) -> list[Any]:
    """axe-core's violations on `page` (or inside the CSS selector `include`)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    options = {
        "runOnly": {"type": "tag", "values": list(WCAG_22_AA)},
        "rules": {rule: {"enabled": False} for rule in disable},
        "resultTypes": ["violations"],
    }
    context = include or "document"
    script = (
        "([selector, options]) => axe.run(selector === 'document' ? document : selector, options)"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " url: v.helpUrl, nodes: v.nodes.map(n => ({target: n.target.join(' '),"
        " html: n.html.slice(0, 200), summary: n.failureSummary}))})))"
    )
    return list(page.evaluate(script, [context, options]))


def describe(found: list[Any], where: str) -> str:
    lines = [f"{len(found)} WCAG 2.2 A/AA violation(s) on {where}:"]
    for violation in found:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary}")
            lines.append(f"      {json.dumps(node['html'], ensure_ascii=False)}")
    return "\n".join(lines)


def assert_accessible(
    page: Any, *, include: str | None = None, disable: tuple[str, ...] = ()
) -> None:
    """Fail listing every WCAG 2.2 A/AA violation axe-core finds on the page as it stands.

    `disable` names axe rules to skip; every use must say why in a comment beside it."""
    found = violations(page, include=include, disable=disable)
    assert not found, describe(found, page.url)
