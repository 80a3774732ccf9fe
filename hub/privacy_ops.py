"""What ``balcao privacy …`` does: a customer's export and erasure, and the retention policy, on
the configured database through ``desk.privacy`` (each in its own unit of work, audited as the
``cli`` actor). Files are written and removed in worker threads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from hub.operations import CommandError, _database
from hub.settings import Settings

if TYPE_CHECKING:
    from connectors.media import MediaStore


def _media(settings: Settings) -> MediaStore:
    """The media store the hub uses (links are not signed here: only files are read and removed)."""
    from connectors.media import MediaStore

    return MediaStore(settings.media_dir, settings.media_secret or "unused", public_url=settings.public_url)


async def export_customer(settings: Settings, customer: str, out: Path) -> int:
    """Write the customer's archive to ``out``; returns its number of conversations."""
    from desk.privacy import UnknownCustomer, find_customer
    from desk.privacy_export import collect_customer_data, write_archive
    from handoff.audit import CLI, AuditAction, record_audit
    from hub.db import unit_of_work

    async with _database(settings) as sessions:
        async with sessions() as session:
            try:
                data = await collect_customer_data(session, await find_customer(session, customer))
            except UnknownCustomer as exc:
                raise CommandError(str(exc)) from exc
        archive = await asyncio.to_thread(write_archive, data, _media(settings))
        await asyncio.to_thread(out.write_bytes, archive)
        async with unit_of_work(sessions) as session:
            details = {"conversations": len(data.conversation_ids), "files": len(set(data.media_ids)), "bytes": len(archive)}
            target = ", ".join(data.conversation_ids[:5]) or None
            await record_audit(
                session, actor=CLI, action=AuditAction.CUSTOMER_EXPORT, target_type="customer", target_id=target, details=details
            )
    return len(data.conversation_ids)


async def erase(settings: Settings, customer: str) -> dict:
    """Erase the customer; returns the counts of what was anonymised and removed."""
    from desk.privacy import UnknownCustomer, erase_customer, find_customer, remove_files
    from handoff.audit import CLI
    from hub.db import unit_of_work

    async with _database(settings) as sessions:
        try:
            async with unit_of_work(sessions) as session:
                done = await erase_customer(session, await find_customer(session, customer), actor=CLI)
        except UnknownCustomer as exc:
            raise CommandError(str(exc)) from exc
    await remove_files(_media(settings), done.media_ids)
    return done.counts()


async def retention(settings: Settings, days: int | None, *, change: bool) -> int | None:
    """The retention policy in force, after setting it to ``days`` when ``change``."""
    from desk.privacy import InvalidRetention, retention_days, set_retention
    from handoff.audit import CLI
    from hub.db import unit_of_work

    async with _database(settings) as sessions:
        if change:
            try:
                async with unit_of_work(sessions) as session:
                    await set_retention(session, days, actor=CLI)
            except InvalidRetention as exc:
                raise CommandError(str(exc)) from exc
        async with sessions() as session:
            return await retention_days(session)


async def run_retention(settings: Settings) -> dict:
    """Apply the retention policy now; returns what the pass did."""
    from dataclasses import asdict

    from desk.privacy import run_retention as run
    from handoff.audit import CLI
    from hub.db import unit_of_work

    async with _database(settings) as sessions:
        return asdict(await run(lambda: unit_of_work(sessions), _media(settings), actor=CLI))
