"""An agent opens, in Chromium, the photo a Telegram customer sent: the real python-telegram-bot in
the hub fetched it from the local fake Bot API; the console shows it as an image from its signed
link, a location as coordinates with a map link, and a voice note as a player (and its link)."""

from __future__ import annotations

import struct
import zlib

import pytest
from playwright.async_api import Browser, expect

from handoff.console_texts import TEXTS
from tests.browser.test_console import SIZES, console
from tests.browser.test_widget import browser  # noqa: F401 - the module's Chromium fixture
from tests.channel_fakes import FakeTelegram, TelegramCustomer
from tests.conftest import TELEGRAM_SECRET
from tests.connectors.test_media import talking_to_ana
from tests.support import AgentClient, RunningHub

pytestmark = [pytest.mark.browser, pytest.mark.rasa]


def png(width: int, height: int) -> bytes:
    """A real (orange) PNG image a browser can draw."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xf0\x80\x20" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _ogg_crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, not reflected, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packets: list[bytes], *, flags: int, granule: int, sequence: int) -> bytes:
    segments = b"".join(bytes([255] * (len(p) // 255) + [len(p) % 255]) for p in packets)
    head = b"OggS\x00" + bytes([flags]) + struct.pack("<qIII", granule, 7, sequence, 0) + bytes([len(segments)]) + segments
    page = head + b"".join(packets)
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def voice_note(seconds: int) -> bytes:
    """A real Ogg Opus voice note (as Telegram sends them) of ``seconds`` of silence: 20 ms CELT
    frames (TOC 0xF8) whose payload decodes to silence."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 6) + b"balcao" + struct.pack("<I", 0)
    frames = [b"\xf8\xff\xfe"] * (50 * seconds)
    return (
        _ogg_page([head], flags=2, granule=0, sequence=0)
        + _ogg_page([tags], flags=0, granule=0, sequence=1)
        + _ogg_page(frames, flags=4, granule=960 * len(frames), sequence=2)
    )


@pytest.mark.parametrize("size", list(SIZES))
async def test_an_agent_opens_the_photo_a_telegram_customer_sent(
    hub: RunningHub, browser: Browser, fake_telegram: FakeTelegram, agent: AgentClient, agent_accounts: dict, size: str
) -> None:
    joana = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET, first_name=f"Marta {size}")
    conversation_id = await talking_to_ana(joana, hub, agent, "telegram")
    photo = png(40, 30)
    update = joana.message_update(
        None,
        photo=[{"file_id": fake_telegram.add_file(photo), "file_unique_id": "p", "width": 40, "height": 30}],
        caption="a caixa chegou amassada",
    )
    assert await joana.send_update(update) == []
    assert await joana.send_update(joana.message_update(None, location={"latitude": -23.5614, "longitude": -46.6559})) == []

    page = await console(browser, hub, agent_accounts["geral"], size=SIZES[size], lang="pt-BR")
    await page.locator("#mine").get_by_role("button", name=f"Marta {size}").click()
    history = page.locator("#history")
    await expect(history).to_contain_text("a caixa chegou amassada")
    image = history.get_by_role("img", name="📎 imagem")
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth") == 40  # drawn, not a broken image

    # Opening it: the link leads to the photo itself, as the customer sent it.
    async with page.context.expect_page() as opened:
        await history.get_by_role("link", name="📎 imagem").click()
    tab = await opened.value
    response = await tab.reload()
    assert response is not None and response.status == 200
    assert response.headers["content-type"] == "image/png" and await response.body() == photo

    t = TEXTS["pt-BR"]
    await expect(history).to_contain_text(f"📍 {t['location']}: -23.56140, -46.65590")
    map_link = history.get_by_role("link", name=t["open_map"])
    assert "openstreetmap.org/?mlat=-23.5614&mlon=-46.6559" in (await map_link.get_attribute("href") or "")
    await page.context.close()
    await agent.close(conversation_id)


@pytest.mark.parametrize("size", list(SIZES))
async def test_an_agent_plays_the_voice_note_a_telegram_customer_sent(
    hub: RunningHub, browser: Browser, fake_telegram: FakeTelegram, agent: AgentClient, agent_accounts: dict, size: str
) -> None:
    rita = TelegramCustomer(hub, fake_telegram, TELEGRAM_SECRET, first_name=f"Rita {size}")
    conversation_id = await talking_to_ana(rita, hub, agent, "telegram")
    note = voice_note(2)
    voice = {"file_id": fake_telegram.add_file(note), "file_unique_id": "v", "duration": 2, "mime_type": "audio/ogg"}
    assert await rita.send_update(rita.message_update(None, voice=voice)) == []

    page = await console(browser, hub, agent_accounts["geral"], size=SIZES[size], lang="pt-PT")
    await page.locator("#mine").get_by_role("button", name=f"Rita {size}").click()
    history = page.locator("#history")
    player = history.locator("audio")
    await expect(player).to_be_visible()
    assert await player.get_attribute("aria-label") == "📎 áudio: audio.ogg"
    # The player read the note from its signed link (the page's CSP lets it): two seconds of sound.
    duration = await player.evaluate(
        "a => a.readyState >= 1 ? a.duration : new Promise((ok, fail) => {"
        " a.addEventListener('loadedmetadata', () => ok(a.duration)); a.addEventListener('error', () => fail(String(a.error && a.error.code))); })"
    )
    assert round(duration) == 2
    box = await player.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= SIZES[size][0]  # fits the phone's width

    # The download link stays beside it: the note as the customer sent it.
    link = history.get_by_role("link", name="📎 áudio: audio.ogg")
    response = await page.request.get(await link.get_attribute("href") or "")
    assert response.status == 200 and response.headers["content-type"] == "audio/ogg" and await response.body() == note
    await page.context.close()
    await agent.close(conversation_id)
