"""``make screenshots``: every page and widget state of a real desk (hub + Rasa), at a phone's and a
laptop's size, in the languages where the page changes with it, written to docs/screenshots/.

Run ``.venv/bin/python tools/screenshots.py`` (``make screenshots``). It starts its own hub and Rasa
on free loopback ports (tools/live_desk.py) and stops both at the end. PNGs are squeezed with
``pngquant`` when it is installed (Debian's package), else kept as Chromium wrote them.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, Page, async_playwright  # noqa: E402 - after sys.path

from tests.support import RunningHub  # noqa: E402 - after sys.path
from tools.live_desk import CHROMIUM, CHROMIUM_ARGS, SIZES, Scene, live_desk, logged_in, make_scene  # noqa: E402 - after sys.path

OUT = ROOT / "docs" / "screenshots"
LANG_HEADERS = {"pt-BR": "pt-BR,pt;q=0.9", "pt-PT": "pt-PT,pt;q=0.9", "en": "en-US,en;q=0.9"}


async def shoot(page: Page, name: str) -> Path:
    """The visible part of ``page`` as ``docs/screenshots/<name>.png``."""
    path = OUT / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def console_shots(browser: Browser, hub: RunningHub, scene: Scene) -> list[Path]:
    """The console: its lists, an open chat (with the canned replies listed), in each language."""
    shots = []
    for lang, size in (("pt-BR", "desktop"), ("pt-BR", "phone"), ("en", "desktop"), ("pt-PT", "phone")):
        context = await logged_in(browser, hub, "agent", size=size, lang=LANG_HEADERS[lang])
        page = await context.new_page()
        await page.goto(f"{hub.url}/console")
        await page.locator("#mine button").first.wait_for()
        shots.append(await shoot(page, f"console-{size}-{lang}-lists"))
        await page.locator("#mine button").first.click()
        await page.locator("#history .msg").first.wait_for()
        await page.get_by_role("textbox").fill("/")
        await page.locator("#shortcuts button").first.wait_for()
        shots.append(await shoot(page, f"console-{size}-{lang}-chat"))
        await context.close()
    context = await logged_in(browser, hub, "supervisor", size="desktop", lang=LANG_HEADERS["pt-BR"])
    page = await context.new_page()
    await page.set_viewport_size({"width": 820, "height": 1180})
    await page.goto(f"{hub.url}/console")
    await page.locator("#queue button").first.click()
    await page.locator("#history .msg").first.wait_for()
    shots.append(await shoot(page, "console-tablet-pt-BR-queued"))
    await context.close()
    return shots


async def staff_page_shots(browser: Browser, hub: RunningHub) -> list[Path]:
    """Login, password, dashboard, the knowledge-base editor and the admin pages at both sizes."""
    shots = []
    for size, (width, height) in SIZES.items():
        context = await browser.new_context(viewport={"width": width, "height": height})
        page = await context.new_page()
        await page.goto(f"{hub.url}/login?next=/console")
        shots.append(await shoot(page, f"login-{size}"))
        await context.close()
        for role, path, lang in (
            ("supervisor", "/dashboard", "pt-BR"),
            ("editor", "/kb", "pt-BR"),
            ("editor", "/kb/questions", "en"),
            ("agent", "/account/password", "en"),
            ("admin", "/admin/teams", "pt-BR"),
            ("admin", "/admin/people", "en"),
            ("admin", "/admin/settings", "pt-PT"),
            ("admin", "/admin/canned", "pt-BR"),
            ("admin", "/admin/privacy", "en"),
            ("admin", "/admin/integrations", "en"),
        ):
            context = await logged_in(browser, hub, role, size=size, lang=LANG_HEADERS[lang])
            page = await context.new_page()
            await page.goto(f"{hub.url}{path}")
            await page.wait_for_load_state("networkidle")
            shots.append(await shoot(page, f"{path.strip('/').replace('/', '-').replace('account-', '')}-{size}"))
            await context.close()
    return shots


async def widget_shots(browser: Browser, hub: RunningHub) -> list[Path]:
    """The demo shop's widget: closed, opened (greeting), an answer, and a hand-over."""
    shots = []
    plan: list[tuple[str, str, Callable[[Page], Awaitable[None]] | None, str]] = [
        ("phone", "pt-BR", None, "closed"),
        ("phone", "pt-BR", _open, "open"),
        ("phone", "pt-BR", _ask("como faço para rastrear meu pedido?"), "answer"),
        ("desktop", "en", _ask("how do I track my order?"), "answer"),
        ("phone", "pt-PT", _ask("quero falar com uma pessoa"), "handover"),
        ("desktop", "pt-BR", _ask("quero falar com um atendente"), "handover"),
    ]
    for size, lang, step, state in plan:
        width, height = SIZES[size]
        context = await browser.new_context(viewport={"width": width, "height": height}, locale=lang)
        page = await context.new_page()
        await page.goto(f"{hub.url}/?lang={lang}")
        await page.locator("[data-balcao-widget]").wait_for(state="attached")
        if step:
            await step(page)
        shots.append(await shoot(page, f"widget-{size}-{lang}-{state}"))
        await context.close()
    return shots


async def _open(page: Page) -> None:
    widget = page.locator("[data-balcao-widget]")
    await widget.locator("button").first.click()
    await widget.get_by_role("textbox").wait_for()
    await page.wait_for_timeout(1500)  # the greeting, if the widget shows one, arrives over its WebSocket


def _ask(question: str) -> Callable[[Page], Awaitable[None]]:
    async def ask(page: Page) -> None:
        await _open(page)
        widget = page.locator("[data-balcao-widget]")
        box = widget.get_by_role("textbox")
        await box.fill(question)
        await box.press("Enter")
        await widget.locator(".msg.bot, .msg.system").last.wait_for(timeout=60_000)
        await page.wait_for_timeout(2500)  # the rest of the turn (buttons, the queue line)

    return ask


def squeeze(paths: list[Path]) -> None:
    """Fewer colours, same look: pngquant when it is there (docs stay small in git)."""
    tool = shutil.which("pngquant")
    if not tool:
        print("pngquant not found (apt-get install pngquant): PNGs kept as Chromium wrote them")
        return
    for path in paths:
        subprocess.run([tool, "--force", "--skip-if-larger", "--quality=70-90", "--output", str(path), str(path)], check=False)


async def tour(hub: RunningHub) -> list[Path]:
    """Every screen, in order."""
    scene = await make_scene(hub)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            shots = await staff_page_shots(browser, hub)
            shots += await console_shots(browser, hub, scene)
            shots += await widget_shots(browser, hub)
        finally:
            await browser.close()
    return shots


def main() -> None:
    """Start the desk, walk it, write docs/screenshots/."""
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with live_desk() as hub:
        shots = asyncio.run(tour(hub))
    squeeze(shots)
    total = sum(p.stat().st_size for p in shots)
    print(f"{len(shots)} screenshots, {total / 1024:.0f} KiB, in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
