"""Every staff page runs under its Content-Security-Policy in Chromium without a single violation or
console error, carries the security headers, and refuses to be framed by another site; the demo
shop page and the widget stay embeddable on a shop's site. No Rasa needed."""

from __future__ import annotations

import asyncio
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.support import RunningHub, free_port, hub_settings, start_hub

pytestmark = [pytest.mark.browser]
ADMIN = ("alba@loja.test", "alba-password-1")
STAFF_PAGES = ("/console", "/dashboard", "/kb")
# Collects the page's CSP violations; Playwright's init scripts are not subject to the page's CSP.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@pytest.fixture(scope="module")
def plain_hub(tmp_path_factory: pytest.TempPathFactory, index_cache: Path) -> Iterator[RunningHub]:
    """A hub without Rasa behind it, and an admin who may open every staff page."""
    from hub.operations import add_user

    hub = start_hub(hub_settings(tmp_path_factory.mktemp("headers-hub"), cache_dir=index_cache, rasa_attempts=1))
    asyncio.run(add_user(hub.settings, email=ADMIN[0], name="Alba", role="admin", teams=["geral"], password=ADMIN[1]))
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def shop(plain_hub: RunningHub) -> Iterator[str]:
    """Another site (another origin) that embeds the widget and frames the demo and the login
    page. A real server on 127.0.0.1: Chromium lets only a page from the loopback address space
    (or a secure one) load the hub's scripts on 127.0.0.1."""
    page = f"""<!doctype html><html lang="en"><body><h1>A shop</h1>
      <iframe id="demo" src="{plain_hub.url}/?lang=en"></iframe>
      <iframe id="login" src="{plain_hub.url}/login"></iframe>
      <script src="{plain_hub.url}/widget.js" defer></script></body></html>""".encode()

    class Shop(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


class Watched:
    """A page with everything that went wrong on it recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(f"{r.status}: {r.url}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    async def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and CSP violations so far."""
        violations = await self.page.evaluate("window.__violations || []")
        return self.errors + [f"CSP: {v}" for v in violations]


@pytest.fixture
async def watched(browser: Browser) -> AsyncIterator[Watched]:
    context = await browser.new_context(locale="pt-BR")
    await context.add_init_script(RECORD_VIOLATIONS)
    yield Watched(await context.new_page())
    await context.close()


def assert_staff_headers(headers: dict[str, str]) -> None:
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in headers  # the public URL is http here


async def test_every_staff_page_runs_under_its_policy_without_a_violation(plain_hub: RunningHub, watched: Watched) -> None:
    page = watched.page
    response = await page.goto(f"{plain_hub.url}/login?next=/console")
    assert response is not None
    assert_staff_headers(await response.all_headers())
    await expect(page.get_by_role("button", name="Entrar / Log in")).to_be_visible()
    await page.get_by_label("E-mail").fill(ADMIN[0])
    await page.get_by_label("Senha / Password").fill(ADMIN[1])
    await page.get_by_role("button", name="Entrar / Log in").click()
    await expect(page.locator("#queue")).to_be_attached()

    for path in STAFF_PAGES:
        response = await page.goto(f"{plain_hub.url}{path}")
        assert response is not None and response.status == 200, path
        assert_staff_headers(await response.all_headers())
        await page.wait_for_load_state("networkidle")
        await page.wait_for_timeout(500)  # the console's and the dashboard's WebSockets open
        assert await watched.problems() == [], path

    # The editor's scripts do their work (list, preview) under the policy too.
    await page.goto(f"{plain_hub.url}/kb")
    await expect(page.locator("#articles li").first).to_be_visible()
    await page.locator("#article-form textarea[name=body]").fill("**negrito** <img src=x onerror=alert(1)>")
    await page.wait_for_timeout(800)
    assert await watched.problems() == []


async def test_the_demo_page_and_the_widget_load_under_their_policy(plain_hub: RunningHub, watched: Watched) -> None:
    page = watched.page
    response = await page.goto(f"{plain_hub.url}/?lang=pt-BR")
    assert response is not None
    headers = await response.all_headers()
    assert "frame-ancestors" not in headers["content-security-policy"] and "x-frame-options" not in headers
    assert "'unsafe-inline'" not in headers["content-security-policy"].split("script-src")[1].split(";")[0]
    widget = page.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name="Abrir o chat").click()
    await expect(widget.get_by_role("textbox", name="Escreva sua mensagem")).to_be_visible()
    await page.wait_for_timeout(800)  # the session call and the WebSocket
    assert await watched.problems() == []

    async with httpx.AsyncClient(base_url=plain_hub.url) as client:
        script = await client.get("/widget.js")
        assert "content-security-policy" not in script.headers and "x-frame-options" not in script.headers
        assert script.headers["x-content-type-options"] == "nosniff"
        api = await client.get("/api/me")
        assert api.status_code == 401 and "frame-ancestors 'none'" in api.headers["content-security-policy"]
        docs = await client.get("/docs")
        assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"


async def test_a_shop_may_embed_the_widget_and_the_demo_but_never_frame_a_staff_page(
    plain_hub: RunningHub, shop: str, watched: Watched
) -> None:
    page = watched.page
    await page.goto(shop)

    # The widget works on the shop's own page (cross-origin session call and WebSocket).
    widget = page.locator("[data-balcao-widget]")
    await widget.get_by_role("button", name="Open chat").click()
    await expect(widget.get_by_role("textbox", name="Type your message")).to_be_visible()
    # The demo page renders in the shop's frame; the login page is refused.
    demo = page.frame_locator("#demo")
    await expect(demo.get_by_role("heading", name="Loja Maré")).to_be_visible()
    await page.wait_for_timeout(500)
    login = page.frame_locator("#login")
    assert await login.get_by_role("button", name="Entrar / Log in").count() == 0
    assert any("frame-ancestors" in problem for problem in await watched.problems())
