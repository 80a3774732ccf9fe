"""Canned responses and invitation links as handoff's functions, on SQLite and PostgreSQL: a reply
is found by words of its shortcut or text (accents and case ignored); a shortcut stays unique per
language through edits; bad input is refused before anything is written. An invitation link works
once, before it expires, and a newer one replaces it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff
from core.models import utcnow
from handoff.canned import (
    EVERYONE,
    InvalidCannedResponse,
    add_canned_response,
    delete_canned_response,
    find_canned,
    update_canned_response,
)
from handoff.invitations import InvitationRefused, accept_invitation, invited_user, new_invitation
from handoff.models import Invitation
from handoff.users import hash_password

Sessions = async_sessionmaker[AsyncSession]


async def test_replies_are_found_by_words_of_their_shortcut_or_text(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)
        await add_canned_response(
            session, shortcut="troca", lang="pt-BR", text="A troca de tamanho é grátis.", team_id="logistica"
        )
        await add_canned_response(session, shortcut="reembolso", lang="pt-BR", text="A devolução do dinheiro leva 5 dias.")
        await add_canned_response(session, shortcut="refund", lang="en", text="Refunds take 5 days.")

        def shortcuts(found: object) -> list[str]:
            return [c.shortcut for c in found]  # type: ignore[attr-defined]  # a sequence of replies

        assert shortcuts(await find_canned(session, words="devol")) == ["reembolso"]  # "devolução", accent ignored
        assert shortcuts(await find_canned(session, words="GRATIS tam")) == ["troca"]  # every word must match
        assert shortcuts(await find_canned(session, words="5 dias")) == ["reembolso"]
        assert shortcuts(await find_canned(session, words="5")) == ["refund", "reembolso"]  # by language, then shortcut
        assert shortcuts(await find_canned(session, lang="pt-BR", team_id=EVERYONE)) == ["reembolso"]
        assert shortcuts(await find_canned(session, team_id="logistica")) == ["troca"]
        visible = await handoff.list_canned(session, lang="pt-BR", team_ids=["geral"])
        assert shortcuts(visible) == ["reembolso"]  # another team's reply is not an agent of geral's


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"shortcut": "Troca Já"}, "canned_bad_shortcut"),
        ({"text": " "}, "canned_bad_text"),
        ({"text": "x" * 2001}, "canned_bad_text"),
        ({"lang": "fr"}, "canned_bad_lang"),
        ({"team_id": "nenhum"}, "unknown_team"),
        ({"shortcut": "/OLA"}, "canned_taken"),  # another reply's, typed with its "/" in capitals
    ],
)
async def test_a_bad_edit_is_refused_and_changes_nothing(sessions: Sessions, change: dict, key: str) -> None:
    async with sessions() as session, session.begin():
        await handoff.ensure_default_teams(session)
        await add_canned_response(session, shortcut="ola", lang="pt-BR", text="Olá!")
        reply = await add_canned_response(session, shortcut="tchau", lang="pt-BR", text="Até logo!")
        with pytest.raises(InvalidCannedResponse) as refused:
            await update_canned_response(
                session, reply.id, **{"shortcut": "tchau", "lang": "pt-BR", "text": "Até!", "team_id": None, **change}
            )
        assert refused.value.key == key
        assert (reply.shortcut, reply.text) == ("tchau", "Até logo!")
        # The same shortcut is fine in another language, and a reply keeps its own on an edit.
        await add_canned_response(session, shortcut="tchau", lang="en", text="Bye!")
        _, changed = await update_canned_response(session, reply.id, shortcut="tchau", lang="pt-BR", text="Até!", team_id=None)
        assert changed == {"text": ["Até logo!", "Até!"]}
        await delete_canned_response(session, reply.id)
        with pytest.raises(InvalidCannedResponse, match="no canned response"):
            await delete_canned_response(session, reply.id)


async def test_an_invitation_works_once_before_it_expires_and_a_newer_one_replaces_it(sessions: Sessions) -> None:
    async with sessions() as session, session.begin():
        user = await handoff.add_user(session, email="lia@loja.test", name="Lia", password="provisoria-1", one_time=True)
        first = await new_invitation(session, user.id, hours=72)
        second = await new_invitation(session, user.id, hours=72)
        with pytest.raises(InvitationRefused) as refused:
            await invited_user(session, first)
        assert refused.value.key == "invitation_used"  # replaced by the newer link
        assert (await invited_user(session, second)).id == user.id

        accepted = await accept_invitation(session, second, await hash_password("lia-senha-123"))
        assert not accepted.must_change_password
        with pytest.raises(InvitationRefused) as refused:
            await accept_invitation(session, second, await hash_password("outra-senha-1"))
        assert refused.value.key == "invitation_used"

        third = await new_invitation(session, user.id, hours=1)
        await session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
        with pytest.raises(InvitationRefused) as refused:
            await invited_user(session, third)
        assert refused.value.key == "invitation_expired"
        for unknown in ("", "x" * 500, "nao-existe"):
            with pytest.raises(InvitationRefused, match="not known"):
                await invited_user(session, unknown)


def test_every_admin_page_word_is_said_in_every_language() -> None:
    from handoff.admin_texts import TEXTS

    assert set(TEXTS["pt-BR"]) == set(TEXTS["pt-PT"]) == set(TEXTS["en"])
    portuguese_only = {k for k in TEXTS["en"] if TEXTS["en"][k] == TEXTS["pt-BR"][k] and k.startswith(("canned_", "privacy_"))}
    assert portuguese_only == set()  # none of the new pages' English words was left in Portuguese
