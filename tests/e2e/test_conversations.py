"""Customers in the widget, the real Rasa server, the hub and agents: the conversation lifecycle."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from handoff import DEFAULT_TEAMS
from hub.settings import ROOT
from kb_index.markdown import parse_article_file
from tests.support import AgentClient, RunningHub, RunningRasa, WidgetCustomer, bot_texts, buttons

pytestmark = pytest.mark.rasa


def article_title(lang: str, article_id: str) -> str:
    return parse_article_file(ROOT / "data" / "kb" / lang / f"{article_id}.md", teams=DEFAULT_TEAMS).title


async def customer(hub: RunningHub, lang: str = "pt-BR") -> WidgetCustomer:
    return await WidgetCustomer(hub.url, lang).connect()


async def queued_conversation(agent: AgentClient, who: WidgetCustomer) -> dict:
    return next(c for c in await agent.queue() if c["customer_id"] == who.customer_id)


async def test_a_portuguese_question_is_answered_from_the_right_article(hub: RunningHub) -> None:
    maria = await customer(hub)
    turn = await maria.say("qual o prazo de entrega pra minha cidade?")
    texts = bot_texts(turn)
    assert texts[0].startswith(f"**{article_title('pt-BR', 'prazo-de-entrega')}**")
    assert texts[-1] == "Isso resolveu sua dúvida?"
    assert buttons(turn) == ["Sim", "Não"]
    await maria.close()


async def test_an_english_question_is_answered_in_english(hub: RunningHub) -> None:
    john = await customer(hub, "en")
    turn = await john.say("how can I track my order?")
    texts = bot_texts(turn)
    assert texts[0].startswith(f"**{article_title('en', 'rastrear-pedido')}**")
    assert texts[-1] == "Did that solve it?"
    await john.close()


async def test_asking_for_a_person_queues_the_chat_for_the_general_team(hub: RunningHub, agent: AgentClient) -> None:
    paulo = await customer(hub)
    turn = await paulo.say("quero falar com um atendente")
    assert {"type": "state", "state": "queued", "agent_name": None} in turn
    told = bot_texts(turn)
    assert "time de atendimento" in told[-2]
    assert told[-1].startswith("Você é o ") and "Espera estimada" in told[-1]
    waiting = await queued_conversation(agent, paulo)
    assert (waiting["team_id"], waiting["escalation_reason"]) == ("geral", "customer_request")
    await paulo.close()


async def test_a_payment_question_the_kb_cannot_answer_goes_to_billing_after_the_second_miss(
    hub: RunningHub, billing_agent: AgentClient
) -> None:
    rita = await customer(hub)
    first = await rita.say("posso pagar com bitcoin?")
    assert bot_texts(first) == ["Não encontrei uma resposta para isso. Pode escrever de outro jeito?"]
    assert not any(f.get("type") == "state" for f in first)
    second = await rita.say("aceitam pagamento em bitcoin ou ethereum?")
    assert any(f.get("state") == "queued" for f in second)
    assert "time de finanças" in bot_texts(second)[-2]
    waiting = await queued_conversation(billing_agent, rita)
    assert (waiting["team_id"], waiting["escalation_reason"]) == ("financeiro", "kb_unanswered")
    await rita.close()


async def test_an_agent_takes_over_and_the_bot_stays_silent_until_the_survey(
    hub: RunningHub, rasa: RunningRasa, agent: AgentClient
) -> None:
    lucas = await customer(hub)
    await lucas.say("me passa para um humano por favor")
    conversation_id = (await queued_conversation(agent, lucas))["id"]

    assert (await agent.claim(conversation_id)).status_code == 200
    joined = await lucas.wait_for(lambda f: f.get("type") == "state")
    assert joined == {"type": "state", "state": "human", "agent_name": "Ana"}

    assert (await agent.reply(conversation_id, "Olá Lucas, sou a Ana. Como posso ajudar?")).status_code == 201
    heard = await lucas.wait_for(lambda f: f.get("type") == "message")
    assert (heard["sender"], heard["agent_name"], heard["text"]) == ("agent", "Ana", "Olá Lucas, sou a Ana. Como posso ajudar?")

    turn = await lucas.say("meu pedido chegou quebrado")
    assert bot_texts(turn) == []  # nobody but the agent answers now
    assert "meu pedido chegou quebrado" not in rasa.user_texts(conversation_id)
    history = await agent.detail(conversation_id)
    assert [m["sender"] for m in history["messages"]] == ["customer", "bot", "system", "agent", "customer"]

    assert (await agent.close(conversation_id)).status_code == 200
    survey = await lucas.wait_for(lambda f: f.get("type") == "message" and f.get("buttons"))
    assert survey["text"] == "De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"
    assert [b["title"] for b in survey["buttons"]] == [str(n) for n in range(11)] + ["Pular"]

    asked_reason = await lucas.say("9")
    assert bot_texts(asked_reason) == ["Obrigado! Qual o principal motivo da sua nota? (opcional)"]
    thanks = await lucas.say("A Ana resolveu rápido")
    assert "Obrigado pela sua opinião" in bot_texts(thanks)[0]

    survey_row = await stored_survey(hub, conversation_id)
    assert (survey_row.score, survey_row.reason, survey_row.ending, survey_row.bot_only) == (
        9,
        "A Ana resolveu rápido",
        "agent_closed",
        False,
    )
    await lucas.close()


async def stored_survey(hub: RunningHub, conversation_id: str):
    import insights

    async def read():
        async with hub.app.state.desk.sessions() as session:
            return await insights.get_survey(session, conversation_id)

    return hub.call(read)


async def conversation_id_of(hub: RunningHub, who: WidgetCustomer) -> str:
    import handoff

    async def read() -> str:
        async with hub.app.state.desk.sessions() as session:
            return (await handoff.latest_conversation(session, channel="widget", customer_id=who.customer_id)).id

    return hub.call(read)


async def test_yes_it_solved_it_leads_to_the_survey(hub: RunningHub) -> None:
    bia = await customer(hub)
    answer = await bia.say("como faço pra pagar com pix?")
    survey = await bia.tap("Sim", answer)
    assert bot_texts(survey) == ["De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"]
    reason = await bia.say("nota dez")
    assert bot_texts(reason)[0].startswith("Obrigado! Qual o principal motivo")
    done = await bia.tap("Pular", reason)
    assert bot_texts(done) == ["Obrigado pela sua opinião! Esta conversa foi encerrada; escreva quando precisar."]
    row = await stored_survey(hub, await conversation_id_of(hub, bia))
    assert (row.score, row.reason, row.ending, row.bot_only) == (10, None, "resolved", True)
    await bia.close()


async def test_goodbye_leads_to_the_survey_which_is_never_asked_twice(hub: RunningHub) -> None:
    rui = await customer(hub, "pt-PT")
    await rui.say("olá")
    survey = await rui.say("era só isso, obrigado, adeus")
    assert bot_texts(survey) == ["De 0 a 10, qual a probabilidade de recomendar a Loja Maré a um amigo?"]
    again = await rui.say("sei lá")
    assert bot_texts(again) == [
        "Por favor, responda com um número de 0 a 10.",
        "De 0 a 10, qual a probabilidade de recomendar a Loja Maré a um amigo?",
    ]
    closed = await rui.say("não sei mesmo")
    assert bot_texts(closed) == ["Sem problema. Esta conversa terminou; escreva sempre que precisar."]
    conversation_id = await conversation_id_of(hub, rui)
    assert (await stored_survey(hub, conversation_id)).score is None

    # Whatever ends this conversation again (an agent, the inactivity check), no second survey.
    hub.call(lambda: hub.app.state.desk.run_ending(conversation_id, ending="inactivity"))
    assert (await stored_survey(hub, conversation_id)).ending == "goodbye"
    await rui.close()


async def test_a_customer_who_goes_quiet_gets_the_survey(hub: RunningHub) -> None:
    eva = await customer(hub)
    await eva.say("como trocar um produto?")
    await asyncio.sleep(0.05)
    hub.call(lambda: hub.app.state.desk.end_quiet_conversations(silent_for=timedelta(0)))
    survey = await eva.wait_for(lambda f: f.get("type") == "message" and f.get("buttons"))
    assert survey["text"] == "De 0 a 10, qual a chance de você recomendar a Loja Maré para um amigo?"
    assert (await stored_survey(hub, await conversation_id_of(hub, eva))).ending == "inactivity"
    await eva.close()


async def test_no_offers_a_close_second_article_with_a_lead_in_then_hands_over(hub: RunningHub) -> None:
    tito = await customer(hub)
    first = await tito.say("como cadastro a inscrição estadual na conta?")  # two articles score close
    assert bot_texts(first)[0].startswith(f"**{article_title('pt-BR', 'compras-corporativas')}**")
    second = await tito.tap("Não", first)
    assert bot_texts(second)[0] == "Talvez isto ajude:"
    assert bot_texts(second)[1].startswith(f"**{article_title('pt-BR', 'criar-conta')}**")
    assert bot_texts(second)[-1] == "Isso resolveu sua dúvida?"
    handed = await tito.tap("Não", second)
    assert any(f.get("state") == "queued" for f in handed)
    # The first article was about company purchases, so the billing team gets the chat.
    assert await queued_for(hub, tito) == ("financeiro", "not_resolved")
    await tito.close()


async def test_no_to_an_answer_with_no_close_second_goes_to_a_person(hub: RunningHub) -> None:
    """Returns, then "no": the next article (a damaged delivery) is too far from the question to
    be offered; the delivery team gets the chat instead."""
    tito = await customer(hub)
    first = await tito.say("quero devolver um produto que comprei")
    handed = await tito.tap("Não", first)
    assert "Talvez isto ajude:" not in bot_texts(handed)
    assert bot_texts(handed)[0].startswith("Vou te passar para uma pessoa do nosso time de logística.")
    assert any(f.get("state") == "queued" for f in handed)
    assert await queued_for(hub, tito) == ("logistica", "not_resolved")
    await tito.close()


async def queued_for(hub: RunningHub, who: WidgetCustomer) -> tuple:
    """The team a customer's conversation waits for, and why."""
    import handoff

    conversation_id = await conversation_id_of(hub, who)

    async def read() -> tuple:
        async with hub.app.state.desk.sessions() as session:
            c = await handoff.get_conversation(session, conversation_id)
            return c.team_id, c.escalation_reason

    return hub.call(read)
