"""The questions customers confirmed the bot answered: what `balcao kb tune` learns from."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import handoff


async def _chat(
    session: AsyncSession, turns: list[tuple[str, str, dict | None]], *, resolved: bool, language: str = "pt-BR"
) -> None:
    conversation = await handoff.start_conversation(
        session, channel="web", customer_id=f"c{len(turns)}{resolved}", language=language
    )
    for sender, text, data in turns:
        await handoff.record_message(session, conversation, sender=sender, text=text, data=data)
    if resolved:
        await handoff.begin_closing(session, conversation.id, actor="bot", reason="resolved")


async def test_a_confirmed_answer_pairs_the_customers_question_with_the_article(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        # Answered at once, then "yes".
        await _chat(
            session,
            [
                ("customer", "como rastreio meu pedido?", None),
                ("bot", "Como rastrear meu pedido?", {"article": "rastrear-pedido", "kb": "answer"}),
                ("bot", "Isso resolveu sua dúvida?", None),
                ("customer", "sim", None),
            ],
            resolved=True,
        )
        # Offered choices, the customer tapped one, then "yes": the question is the first message.
        await _chat(
            session,
            [
                ("customer", "paguei e nao apareceu", None),
                ("bot", "Qual destes?", {"kb": "clarify"}),
                ("customer", "Como pagar com Pix?", None),
                ("bot", "Como pagar com Pix?", {"article": "pagamento-pix"}),
                ("customer", "sim", None),
            ],
            resolved=True,
            language="pt-PT",
        )
        # Not confirmed: the customer went to a person.
        await _chat(
            session,
            [("customer", "quero cancelar", None), ("bot", "Como cancelar?", {"article": "cancelar-pedido", "kb": "answer"})],
            resolved=False,
        )
        await session.commit()
    async with sessions() as session:
        found = await handoff.confirmed_answers(session)
    assert sorted(found, key=lambda c: c.article_id) == [
        handoff.ConfirmedAnswer("paguei e nao apareceu", "pt-PT", "pagamento-pix"),
        handoff.ConfirmedAnswer("como rastreio meu pedido?", "pt-BR", "rastrear-pedido"),
    ]
