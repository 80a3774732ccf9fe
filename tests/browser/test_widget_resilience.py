"""The widget as customers meet it on real sites: after the hub restarts, with the keyboard alone,
and on a host page whose CSS tries to restyle everything."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from starlette.responses import HTMLResponse
from starlette.routing import Route

import handoff
from hub.db import make_engine, make_sessionmaker, unit_of_work
from hub.settings import Settings
from insights.summaries import note_appended
from tests.browser.test_widget import browser, page  # noqa: F401 - the fixtures
from tests.channel_fakes import FakeServer
from tests.support import RunningHub, hub_settings, start_hub

pytestmark = [pytest.mark.browser, pytest.mark.rasa]


def an_agent_answers_on_another_replica(settings: Settings, text: str) -> None:
    """While this hub is down, an agent on another replica takes the queued chat and replies."""

    async def answer() -> None:
        engine = make_engine(settings.database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine, listeners=[note_appended])) as session:
                rita = await handoff.add_user(
                    session, email="rita@loja.test", name="Rita", password="rita-password-1", teams=["geral"]
                )
                (waiting,) = await handoff.list_queue(session, None)
                await handoff.claim_conversation(session, waiting.id, rita)
                await handoff.agent_reply(session, waiting.id, rita, text)
        finally:
            await engine.dispose()

    asyncio.run(answer())


def customer_texts(settings: Settings) -> list[str]:
    async def read() -> list[str]:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                (conversation,) = await handoff.list_agent_conversations(session, 1)
                return [m.text for m in await handoff.conversation_history(session, conversation.id) if m.sender == "customer"]
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def test_the_widget_reconnects_after_a_hub_restart_and_no_message_is_lost(
    browser: Browser, tmp_path: Path, index_cache: Path
) -> None:
    # No Rasa behind this hub: the bot fails at once and every chat goes to a person.
    settings = hub_settings(tmp_path, cache_dir=index_cache, rasa_timeout_s=0.5)
    hub: RunningHub = await asyncio.to_thread(start_hub, settings)
    context = await browser.new_context()
    try:
        shop = await context.new_page()
        await shop.goto(f"{hub.url}/?lang=pt-BR")
        widget = shop.locator("[data-balcao-widget]")
        await widget.get_by_role("button", name="Abrir o chat").click()
        box = widget.get_by_role("textbox", name="Escreva sua mensagem")
        log, status = widget.get_by_role("log"), widget.get_by_role("status")
        await box.fill("meu pedido não chegou")
        await box.press("Enter")
        await expect(status).to_contain_text("Você é o 1º da fila", timeout=60_000)

        await asyncio.to_thread(hub.stop)
        await expect(status).to_have_text("Reconectando…", timeout=60_000)
        await box.fill("ainda estou aqui")
        await box.press("Enter")
        await expect(log.locator(".msg.customer.pending")).to_have_text("ainda estou aqui")
        await asyncio.to_thread(an_agent_answers_on_another_replica, settings, "Voltamos! Sou a Rita.")

        hub = await asyncio.to_thread(start_hub, settings)
        await expect(log.locator(".msg.agent")).to_contain_text("Voltamos! Sou a Rita.", timeout=30_000)
        await expect(status).to_have_text("Rita entrou na conversa.")
        await expect(log.locator(".msg.pending")).to_have_count(0, timeout=10_000)
        assert await asyncio.to_thread(customer_texts, settings) == ["meu pedido não chegou", "ainda estou aqui"]
    finally:
        await context.close()
        await asyncio.to_thread(hub.stop)


async def test_the_widget_works_with_the_keyboard_alone(hub: RunningHub, page: Page) -> None:
    await page.goto(f"{hub.url}/?lang=pt-BR")
    widget = page.locator("[data-balcao-widget]")
    launcher = widget.get_by_role("button", name="Abrir o chat")
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await launcher.evaluate("el => el.getRootNode().activeElement === el"):
            break
    else:
        pytest.fail("Tab never reached the chat button")
    await page.keyboard.press("Enter")
    box = widget.get_by_role("textbox", name="Escreva sua mensagem")
    await expect(box).to_be_focused()
    await page.keyboard.type("como faço para rastrear meu pedido?")
    await page.keyboard.press("Enter")
    log = widget.get_by_role("log")
    await expect(log.locator(".msg.bot").last).to_have_text("Isso resolveu sua dúvida?", timeout=60_000)

    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await expect(widget.get_by_role("button", name="Sim")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(log.locator(".msg.bot").last).to_have_text(
        "De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?", timeout=60_000
    )
    await expect(box).to_be_focused()  # the quick replies went away; the keyboard stays in the chat

    await page.keyboard.press("Escape")
    await expect(launcher).to_be_focused()
    await expect(widget.get_by_role("dialog")).to_be_hidden()


HOSTILE_PAGE = """<!doctype html>
<html lang="en-GB"><head><title>Loja do Zé</title><style>
  html, body { background: #ff00ff !important; }
  * { color: #ff0000 !important; font: italic 40px/5 "Comic Sans MS", cursive !important; letter-spacing: 4px !important;
      border: 6px dashed #0000ff !important; padding: 30px !important; margin: 15px !important;
      box-sizing: content-box !important; text-transform: uppercase !important; }
  div, section, button, form, textarea, header, span { display: block !important; position: static !important;
      width: 80% !important; height: auto !important; background: #00ff00 !important; opacity: .5 !important;
      transform: rotate(7deg) !important; filter: invert(1) !important; z-index: 0 !important; }
</style></head>
<body><h1>Loja do Zé</h1><div>Promoções!</div>
<script src="{hub}/widget.js" data-color="#0b6e4f" defer></script></body></html>"""


async def pixels(browser: Browser, png: bytes, points: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The colours of a screenshot at ``points``, read by a blank page's canvas."""
    reader = await browser.new_page()
    try:
        found = await reader.evaluate(
            """async ([data, points]) => {
                 const img = new Image(); img.src = "data:image/png;base64," + data; await img.decode();
                 const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
                 const g = c.getContext("2d"); g.drawImage(img, 0, 0);
                 return points.map(([x, y]) => Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3)));
               }""",
            [base64.b64encode(png).decode(), points],
        )
    finally:
        await reader.close()
    return [tuple(p) for p in found]


def close_to(colour: tuple[int, int, int], hex_colour: str, tolerance: int = 12) -> bool:
    want = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(colour, want))


@pytest.fixture
def shop_site(hub: RunningHub) -> Iterator[FakeServer]:
    """The shop's own site, on another origin than the hub (the widget's calls are cross-origin).
    A real server on loopback: Chromium lets only such pages reach the loopback hub."""
    html = HOSTILE_PAGE.replace("{hub}", hub.url)
    site = FakeServer([Route("/loja", lambda request: HTMLResponse(html))]).start()
    yield site
    site.stop()


async def test_a_host_page_with_aggressive_css_does_not_restyle_the_widget(
    hub: RunningHub, browser: Browser, shop_site: FakeServer
) -> None:
    context = await browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        shop = await context.new_page()
        await shop.goto(f"{shop_site.url}/loja")
        widget = shop.locator("[data-balcao-widget]")
        launcher = widget.get_by_role("button", name="Open chat")  # English, from <html lang="en-GB">
        await expect(launcher).to_be_visible(timeout=10_000)
        box = await launcher.bounding_box()
        assert (round(box["width"]), round(box["height"])) == (60, 60)
        assert round(box["x"] + box["width"]) == 1000 - 20 and round(box["y"] + box["height"]) == 800 - 20

        await launcher.click()
        panel = widget.get_by_role("dialog", name="Support")
        await expect(panel).to_be_visible()
        await expect(widget.get_by_role("textbox", name="Type your message")).to_be_focused()
        header = await widget.locator("header").bounding_box()
        log = await widget.get_by_role("log").bounding_box()
        frame = await panel.bounding_box()
        assert round(frame["width"]) == 360 and round(frame["x"] + frame["width"]) == 1000 - 20

        png = await shop.screenshot()
        launcher_edge, header_middle, log_middle, page_corner = await pixels(
            browser,
            png,
            [
                (int(box["x"] + 8), int(box["y"] + box["height"] / 2)),
                (int(header["x"] + header["width"] / 2), int(header["y"] + 4)),
                (int(log["x"] + log["width"] / 2), int(log["y"] + log["height"] / 2)),
                (5, 5),
            ],
        )
        assert close_to(launcher_edge, "#0b6e4f"), launcher_edge
        assert close_to(header_middle, "#0b6e4f"), header_middle
        assert close_to(log_middle, "#f6f7f8"), log_middle
        assert close_to(page_corner, "#ff00ff"), page_corner  # and the host page kept its own look
        title_style = await widget.locator(".title").evaluate(
            "el => [getComputedStyle(el).fontSize, getComputedStyle(el).textTransform]"
        )
        assert title_style == ["15px", "none"]
    finally:
        await context.close()
