"""Accessibility benchmark: axe-core (WCAG 2.1 A and AA) on every page and widget state of a real desk,
at a phone's (390 × 844) and a laptop's (1280 × 800) size. Goal: 0 serious or critical violations.

Pages: login, password, console (its lists, an open chat with the canned replies listed), dashboard,
knowledge-base editor, the admin pages (teams, people, the company's words), the account page, and
the demo shop's widget (closed, open, after an answer).

Run ``.venv/bin/python bench/a11y.py``; it writes ``bench/results/a11y.json``. It installs axe-core
with npm into var/node/ the first time (tools/axe.py), starts its own hub and Rasa on free loopback
ports (tools/live_desk.py) and stops both at the end, also on errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, Page, async_playwright

from tests.support import RunningHub
from tools.axe import AXE_VERSION, TAGS, axe_violations, blocking, ensure_axe
from tools.live_desk import CHROMIUM, CHROMIUM_ARGS, SIZES, live_desk, logged_in, make_scene

RESULT = ROOT / "bench" / "results" / "a11y.json"
Step = Callable[[Page], Awaitable[None]]


async def _console_chat(page: Page) -> None:
    await page.locator("#mine button").first.click()
    await page.locator("#history .msg").first.wait_for()
    await page.get_by_role("textbox").fill("/")
    await page.locator("#shortcuts button").first.wait_for()


async def _widget_open(page: Page) -> None:
    widget = page.locator("[data-balcao-widget]")
    await widget.locator("button").first.click()
    await widget.get_by_role("textbox").wait_for()


async def _widget_answer(page: Page) -> None:
    await _widget_open(page)
    box = page.locator("[data-balcao-widget]").get_by_role("textbox")
    await box.fill("como faço para rastrear meu pedido?")
    await box.press("Enter")
    await page.locator("[data-balcao-widget] .msg.bot").last.wait_for(timeout=60_000)
    await page.wait_for_timeout(2000)


PAGES: list[tuple[str, str | None, str, Step | None]] = [
    ("login", None, "/login?next=/console", None),
    ("password", "agent", "/account/password", None),
    ("console", "agent", "/console", None),
    ("console-chat", "agent", "/console", _console_chat),
    ("console-supervisor", "supervisor", "/console", None),
    ("dashboard", "supervisor", "/dashboard", None),
    ("kb-editor", "editor", "/kb", None),
    ("kb-questions", "editor", "/kb/questions", None),
    ("admin-teams", "admin", "/admin/teams", None),
    ("admin-people", "admin", "/admin/people", None),
    ("admin-settings", "admin", "/admin/settings", None),
    ("admin-canned", "admin", "/admin/canned", None),
    ("admin-privacy", "admin", "/admin/privacy", None),
    ("admin-integrations", "admin", "/admin/integrations", None),
    ("account", "agent", "/account", None),
    ("widget-closed", None, "/?lang=pt-BR", None),
    ("widget-open", None, "/?lang=pt-BR", _widget_open),
    ("widget-answer", None, "/?lang=pt-BR", _widget_answer),
]
"""(name, who is logged in, path, what is done before the check)."""


async def check(browser: Browser, hub: RunningHub, name: str, role: str | None, path: str, step: Step | None, size: str) -> dict:
    """axe's violations on one page at one size."""
    if role:
        context = await logged_in(browser, hub, role, size=size, bypass_csp=True)
    else:
        width, height = SIZES[size]
        context = await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    try:
        page = await context.new_page()
        await page.goto(f"{hub.url}{path}")
        await page.wait_for_load_state("networkidle")
        if step:
            await step(page)
        violations = await axe_violations(page)
    finally:
        await context.close()
    impacts = Counter(v["impact"] for v in violations)
    return {
        "page": name,
        "size": size,
        "path": path,
        "impacts": dict(impacts),
        "serious_or_critical": len(blocking(violations)),
        "violations": [{**v, "nodes": v["nodes"][:5], "node_count": len(v["nodes"])} for v in violations],
    }


async def run(hub: RunningHub) -> list[dict]:
    """Every page at every size."""
    await make_scene(hub)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            results = []
            for name, role, path, step in PAGES:
                for size in SIZES:
                    result = await check(browser, hub, name, role, path, step, size)
                    print(f"{name:20} {size:8} {result['impacts']}")
                    results.append(result)
            return results
        finally:
            await browser.close()


def main() -> None:
    """Run the check and write bench/results/a11y.json."""
    ensure_axe()
    started = time.time()
    with live_desk() as hub:  # started outside the event loop: its start-up runs loops of its own
        results = asyncio.run(run(hub))
    total: Counter[str] = Counter()
    for r in results:
        total.update(r["impacts"])
    report = {
        "what": "axe-core WCAG 2.1 A/AA violations on every page and widget state, at 390x844 and 1280x800",
        "axe_core": AXE_VERSION,
        "tags": TAGS,
        "goal": "0 serious or critical violations",
        "serious_or_critical": sum(r["serious_or_critical"] for r in results),
        "by_impact": dict(total),
        "pages_checked": len(results),
        "seconds": round(time.time() - started, 1),
        "results": results,
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"serious or critical: {report['serious_or_critical']} (by impact: {report['by_impact']}) → {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
