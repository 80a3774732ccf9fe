"""Links to files sent to customers expire (Telegram and Twilio fetch them seconds after sending),
and are signed with a secret of their own."""

from __future__ import annotations

import time

import httpx
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from connectors.media import MediaStore
from hub.settings import DEV_SECRET
from tests.support import RunningHub

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DAY = 86_400


def store_of(hub: RunningHub, *, days_ago: float = 0) -> MediaStore:
    """The hub's media store, its links signed ``days_ago``."""
    settings = hub.settings
    return MediaStore(settings.media_dir, settings.media_secret, public_url=hub.url, clock=lambda: time.time() - days_ago * DAY)


async def test_a_file_link_works_for_a_week_then_expires_politely(bare_hub: RunningHub) -> None:
    assert bare_hub.settings.media_link_max_age_s == 7 * DAY
    async with httpx.AsyncClient() as client:
        recent = store_of(bare_hub, days_ago=6.9).save(PNG, mime="image/png", name="etiqueta.png")
        assert (await client.get(recent.url)).content == PNG
        old = store_of(bare_hub, days_ago=7.1).save(PNG, mime="image/png", name="etiqueta.png")
        expired = await client.get(old.url)
    assert expired.status_code == 410
    assert expired.json()["detail"] == "this file link has expired: please ask us to send the file again"


async def test_a_file_link_forged_with_the_old_development_secret_is_refused(bare_hub: RunningHub) -> None:
    stored = store_of(bare_hub).save(PNG, mime="image/png", name="etiqueta.png")
    payload = {"m": stored.id, "t": "image/png", "n": "x.png"}
    forged = URLSafeSerializer(DEV_SECRET, salt="balcao-media").dumps(payload)
    signed_with_the_session_secret = URLSafeTimedSerializer(bare_hub.settings.secret_key, salt="balcao-media").dumps(payload)
    async with httpx.AsyncClient(base_url=bare_hub.url) as client:
        assert (await client.get(f"/media/{forged}")).status_code == 403
        assert (await client.get(f"/media/{signed_with_the_session_secret}")).status_code == 403
