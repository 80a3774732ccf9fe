"""What each channel sends, decided when the message is stored: WhatsApp's 24-hour window and its
follow-up template, numbered options, message splitting and formatting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import handoff
from connectors import outbox
from connectors.base import InboundMessage, pick_option, split_text
from connectors.customers import remember_customer
from connectors.models import Delivery
from connectors.telegram import keyboard, to_html
from connectors.whatsapp import WhatsAppChannel, render
from core.events import take_pending_events
from core.models import utcnow
from hub.db import make_engine, make_sessionmaker, run_migrations
from insights.summaries import note_appended

NUMBER = "whatsapp:+5511911112222"


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'rules.db'}"
    await asyncio.to_thread(run_migrations, url)  # Alembic runs its own event loop
    engine = make_engine(url)
    async with make_sessionmaker(engine, listeners=[note_appended])() as session:
        yield session
    await engine.dispose()


def whatsapp(template: str | None = None) -> WhatsAppChannel:
    return WhatsAppChannel(
        account_sid="AC1", auth_token="t", from_number="+14155238886", status_callback_url=None, followup_content_sid=template
    )


async def customer_wrote(session: AsyncSession, text: str = "oi") -> handoff.Conversation:
    inbound = InboundMessage(channel="whatsapp", customer_id="wa-+5511911112222", text=text, language="pt-BR", address=NUMBER)
    await remember_customer(session, inbound)
    conversation = await handoff.start_conversation(
        session, channel="whatsapp", customer_id=inbound.customer_id, language="pt-BR"
    )
    await handoff.record_message(session, conversation, sender="customer", text=text)
    return await handoff.get_conversation(session, conversation.id)


async def bot_says(
    session: AsyncSession, conversation: handoff.Conversation, text: str, *, hours_later: float, template: str | None = None
):
    """The bot writes ``hours_later`` after the customer; returns what WhatsApp would send."""
    take_pending_events(session)
    await handoff.record_message(session, conversation, sender="bot", text=text)
    (event,) = take_pending_events(session)
    channel = whatsapp(template)
    plan = await channel.plan(session, event, conversation, None, utcnow() + timedelta(hours=hours_later))
    if plan is not None:
        await outbox.enqueue(
            session,
            channel="whatsapp",
            customer_id=conversation.customer_id,
            body=plan.body,
            conversation_id=conversation.id,
            message_id=event.message_id,
            not_sent_reason=plan.not_sent_reason,
        )
    return plan


async def test_inside_the_24_hour_window_free_text_is_sent(session: AsyncSession) -> None:
    conversation = await customer_wrote(session)
    plan = await bot_says(session, conversation, "De 0 a 10, qual a chance de você nos recomendar?", hours_later=23.5)
    assert plan.body["text"].startswith("De 0 a 10") and plan.not_sent_reason is None


async def test_past_the_window_nothing_free_form_is_sent_and_the_reason_is_kept(session: AsyncSession) -> None:
    conversation = await customer_wrote(session)
    plan = await bot_says(session, conversation, "Ainda está aí?", hours_later=24.5)
    assert plan.body is None and "24-hour window closed" in plan.not_sent_reason
    (row,) = await outbox.customer_outbox(session, channel="whatsapp", customer_id=conversation.customer_id)
    assert (row.status, row.error) == (Delivery.NOT_SENT.value, plan.not_sent_reason)


async def test_past_the_window_a_configured_template_is_sent_once(session: AsyncSession) -> None:
    conversation = await customer_wrote(session)
    first = await bot_says(session, conversation, "Sua troca foi aprovada.", hours_later=30, template="HX0123456789abcdef")
    second = await bot_says(session, conversation, "Mais um detalhe.", hours_later=31, template="HX0123456789abcdef")
    assert first.body["content_sid"] == "HX0123456789abcdef"
    assert second.body is None and "24-hour window closed" in second.not_sent_reason


def test_buttons_become_numbered_options_except_when_they_are_numbers_already() -> None:
    yes_no = [{"title": "Sim", "payload": "/affirm"}, {"title": "Não", "payload": "/deny"}]
    assert render({"text": "**Prazo**\n\nAté 5 dias.", "buttons": yes_no, "language": "pt-BR"}) == (
        "Prazo\n\nAté 5 dias.\n\n1. Sim\n2. Não\n\nResponda com o número."
    )
    scores = [{"title": str(n), "payload": str(n)} for n in range(11)] + [{"title": "Pular", "payload": "/deny"}]
    assert render({"text": "De 0 a 10?", "buttons": scores, "language": "pt-BR"}) == "De 0 a 10?"


# The message the bot sends when it is unsure (bot/actions/actions.py, ActionKbAnswer): up to three
# articles as options, then "none of these", which hands over.
OPTIONS = {
    "text": "Qual destes responde à sua pergunta?",
    "language": "pt-BR",
    "buttons": [
        {"title": "Prazo de entrega", "payload": '/choose_article{"article": "prazo-de-entrega"}'},
        {"title": "Pedido atrasado", "payload": '/choose_article{"article": "pedido-atrasado"}'},
        {"title": "Rastrear pedido", "payload": '/choose_article{"article": "rastrear-pedido"}'},
        {"title": "Nenhum desses", "payload": "/deny"},
    ],
}


def test_the_articles_offered_when_unsure_are_numbered_on_whatsapp_and_one_per_row_on_telegram() -> None:
    assert render(OPTIONS) == (
        "Qual destes responde à sua pergunta?\n\n1. Prazo de entrega\n2. Pedido atrasado\n3. Rastrear pedido\n"
        "4. Nenhum desses\n\nResponda com o número."
    )
    # Typing "3" on WhatsApp is tapping the third article.
    assert pick_option(OPTIONS["buttons"], 3) == OPTIONS["buttons"][2]
    rows = keyboard(OPTIONS["buttons"], 42).inline_keyboard
    assert [[k.text for k in row] for row in rows] == [
        ["Prazo de entrega"],
        ["Pedido atrasado"],
        ["Rastrear pedido"],
        ["Nenhum desses"],
    ]
    assert [row[0].callback_data for row in rows] == ["m42:0", "m42:1", "m42:2", "m42:3"]


def test_telegram_text_is_escaped_html_with_bold_titles_and_small_callback_data() -> None:
    assert to_html("**Troca <grátis>**\n\nA & B") == "<b>Troca &lt;grátis&gt;</b>\n\nA &amp; B"
    article_buttons = [
        {"title": "Devolução e arrependimento", "payload": '/choose_article{"article": "devolucao-e-arrependimento"}'}
    ]
    (row,) = keyboard(article_buttons, 123456789).inline_keyboard
    assert row[0].callback_data == "m123456789:0" and len(row[0].callback_data.encode()) <= 64


def test_long_texts_are_split_at_paragraphs_within_the_limit() -> None:
    text = "\n\n".join(f"Parágrafo {i}. " + "palavra " * 60 for i in range(12))
    parts = split_text(text, 1600)
    assert all(len(p) <= 1600 for p in parts) and len(parts) > 1
    assert all(p.startswith("Parágrafo") for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(text.split())
