"""axe-core, the accessibility engine (npm, MPL-2.0), installed at run time into var/node/ (git-ignored:
never committed) and run inside a Playwright page.

The staff pages' CSP allows no inline or injected script, so the check runs in a browser context
made with ``bypass_csp=True`` (the page under test is otherwise unchanged)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from playwright.async_api import Page

ROOT = Path(__file__).resolve().parents[1]
AXE_VERSION = "4.14.1"
NODE_DIR = ROOT / "var" / "node" / "axe"
AXE_JS = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
"""The rules run: WCAG 2.1 A and AA."""
BLOCKING = ("serious", "critical")
"""The impacts that must be 0 (bench/results/a11y.json, tests/browser/test_a11y.py)."""


class AxeUnavailable(RuntimeError):
    """npm is missing or the npm registry could not be reached: axe-core could not be installed."""


def ensure_axe() -> Path:
    """The path of ``axe.min.js``, installing axe-core with npm into var/node/axe the first time."""
    if AXE_JS.exists():
        return AXE_JS
    npm = shutil.which("npm")
    if not npm:
        raise AxeUnavailable("npm is not installed (apt-get install npm)")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--no-save", f"axe-core@{AXE_VERSION}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not AXE_JS.exists():
        raise AxeUnavailable(f"npm could not install axe-core {AXE_VERSION}: {done.stderr.strip()[-500:]}")
    return AXE_JS


async def axe_violations(page: Page, *, include: str | None = None) -> list[dict]:
    """The WCAG 2.1 A/AA violations axe finds in ``page`` as it is now (open shadow roots included),
    each as ``{"id", "impact", "help", "nodes": [{"target", "html"}]}``; ``include``: a CSS selector
    to check only that part."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(ensure_axe()))
    result = await page.evaluate(
        """async ([include, tags]) => {
            const r = await axe.run(include ? { include: [include] } : document, { runOnly: { type: "tag", values: tags } });
            return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map(n => ({ target: n.target.map(String), html: n.html.slice(0, 200) })) }));
        }""",
        [include, TAGS],
    )
    return list(result)


def blocking(violations: list[dict]) -> list[dict]:
    """The serious and critical ones."""
    return [v for v in violations if v["impact"] in BLOCKING]
