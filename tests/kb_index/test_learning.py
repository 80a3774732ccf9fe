"""Learning from use, in the database: what a customer confirmed or chose becomes a candidate
question once; an editor's approval makes it an alternative question of the article (a new
version), a rejection keeps it out for good; two editors deciding at once, one wins."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import kb_index
from kb_index import ArticleDraft

PIX = ArticleDraft(
    id="pagamento-pix", lang="pt-BR", title="Como pagar com Pix?", body="Escolha Pix no fim da compra.", team="geral",
    questions=["posso pagar com pix?"],
)  # fmt: skip


async def _article(session: AsyncSession) -> None:
    await kb_index.publish_article(session, PIX, author="Edu")


async def test_a_question_is_proposed_once_and_never_one_the_article_has(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await _article(session)
        first = await kb_index.propose_question(
            session, text="  paguei   no pix e nao apareceu ", lang="pt-PT", article_id="pagamento-pix", source="confirmed"
        )
        again = await kb_index.propose_question(
            session, text="paguei no pix e nao apareceu", lang="pt-BR", article_id="pagamento-pix", source="chosen"
        )
        known = await kb_index.propose_question(
            session, text="Posso pagar com Pix?", lang="pt-BR", article_id="pagamento-pix", source="chosen"
        )
        nowhere = await kb_index.propose_question(
            session, text="cadê meu pedido?", lang="pt-BR", article_id="nao-existe", source="chosen"
        )
        other_family = await kb_index.propose_question(
            session, text="how do I pay with pix?", lang="en", article_id="pagamento-pix", source="chosen"
        )
    assert first is not None and (first.text, first.lang, first.source) == ("paguei no pix e nao apareceu", "pt-BR", "confirmed")
    assert (again, known, nowhere, other_family) == (None, None, None, None)
    async with sessions() as session:
        pending = await kb_index.pending_questions(session)
    assert [(p.text, p.article_title, p.source) for p in pending] == [
        ("paguei no pix e nao apareceu", "Como pagar com Pix?", "confirmed")
    ]


async def test_approved_it_is_an_alternative_question_rejected_it_stays_out(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        await _article(session)
        yes = await kb_index.propose_question(
            session, text="o pix caiu?", lang="pt-BR", article_id="pagamento-pix", source="chosen"
        )
        no = await kb_index.propose_question(
            session, text="quero meu dinheiro de volta", lang="pt-BR", article_id="pagamento-pix", source="confirmed"
        )
    assert yes is not None and no is not None
    async with sessions() as session, session.begin():
        _, article = await kb_index.approve_question(session, yes.id, editor="Iara")
        await kb_index.reject_question(session, no.id, editor="Iara")
    assert (article.questions, article.version, article.author) == (["posso pagar com pix?", "o pix caiu?"], 2, "Iara")
    async with sessions() as session, session.begin():
        with pytest.raises(kb_index.CandidateDecided, match="approved by Iara"):
            await kb_index.reject_question(session, yes.id, editor="Edu")
        with pytest.raises(kb_index.CandidateNotFound):
            await kb_index.approve_question(session, 999_999, editor="Edu")
        # Rejected once, never proposed again.
        assert (
            await kb_index.propose_question(
                session, text="quero meu dinheiro de volta", lang="pt-BR", article_id="pagamento-pix", source="chosen"
            )
            is None
        )
    async with sessions() as session:
        assert await kb_index.pending_questions(session) == []
        assert [c.text for c in await kb_index.approved_questions(session)] == ["o pix caiu?"]
        stored = await kb_index.get_article(session, "pagamento-pix", "pt-BR")
    assert stored.questions == ["posso pagar com pix?", "o pix caiu?"]
