"""Outgoing webhooks, received by a real HTTP server on 127.0.0.1: a chat queued, claimed and
closed and a survey answered each reach the endpoint once, signed with its secret (a changed body
or an old time fails the check); a receiver answering 500 twice gets the same delivery a third time
and the log shows the three attempts; a delivery given up is sent again from the log; and only
public http(s) targets are accepted unless BALCAO_WEBHOOKS_ALLOW_PRIVATE says otherwise."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

import handoff
from integrations import WebhookRefused, sign, verify
from integrations.webhooks import check_target, check_url
from tests.integrations.receiver import Receiver, now
from tests.support import RunningHub, WidgetCustomer, wait_until


async def add_webhook(admin: httpx.AsyncClient, receiver: Receiver, events: list[str] | None = None) -> tuple[str, dict]:
    """A new endpoint on its own path of the receiver: (path, the API's answer with the secret)."""
    path = f"/hooks/{uuid.uuid4().hex[:8]}"
    body = {"url": receiver.url(path), "events": events or ["conversation.queued"]}
    r = await admin.post("/api/admin/integrations/webhooks", json=body)
    assert r.status_code == 201, r.text
    return path, r.json()


async def queued_chat(hub: RunningHub, text: str = "preciso falar com alguém") -> str:
    """A customer whose chat is queued (Rasa is away); returns the conversation's id."""
    customer = await WidgetCustomer(hub.url, "pt-BR").connect()
    await customer.say(text)
    await customer.close()
    return customer.customer_id


def events_of(requests: list, customer_id: str) -> list[dict]:
    """The customer's events in the order they happened (deliveries are sent side by side, so they
    may arrive in another order: receivers order them by ``created_at``)."""
    found = [json.loads(r.body) for r in requests]
    return sorted((e for e in found if e["data"]["conversation"]["customer_id"] == customer_id), key=lambda e: e["created_at"])


async def test_conversation_events_arrive_signed(
    desk: RunningHub, admin: httpx.AsyncClient, agent: httpx.AsyncClient, receiver: Receiver
) -> None:
    every = ["conversation.queued", "conversation.claimed", "conversation.closed", "survey.answered"]
    path, hook = await add_webhook(admin, receiver, every)
    customer_id = await queued_chat(desk)
    first = receiver.wait_for(path, 1)[0]
    event = json.loads(first.body)
    assert event["type"] == "conversation.queued" and first.headers["x-balcao-event"] == "conversation.queued"
    assert event["data"]["conversation"]["customer_id"] == customer_id
    signature = first.headers["x-balcao-signature"]
    assert verify(hook["secret"], first.body, signature, now=now())
    assert not verify(hook["secret"], first.body.replace(b"queued", b"closed"), signature, now=now())
    assert not verify("whsec_another", first.body, signature, now=now())
    assert not verify(hook["secret"], first.body, signature, now=now() + 3600), "an old delivery replayed is refused"
    # The agent claims and closes it: each event once, in order.
    conversation_id = event["data"]["conversation"]["id"]
    assert (await agent.post(f"/api/agent/conversations/{conversation_id}/claim")).status_code == 200
    assert (await agent.post(f"/api/agent/conversations/{conversation_id}/close", json={"reason": "resolved"})).status_code == 200
    got = receiver.wait_for(path, 3)
    events = events_of(got, customer_id)
    assert [e["type"] for e in events] == ["conversation.queued", "conversation.claimed", "conversation.closed"]
    assert all(verify(hook["secret"], r.body, r.headers["x-balcao-signature"], now=now()) for r in got)
    claimed = events[1]["data"]["conversation"]
    assert claimed["agent_id"] is not None and claimed["state"] == "human"


async def test_a_survey_answer_is_reported_with_its_score(desk: RunningHub, admin: httpx.AsyncClient, receiver: Receiver) -> None:
    path, hook = await add_webhook(admin, receiver, ["survey.answered"])
    desk_services = desk.app.state.desk

    async def survey() -> str:
        async with desk_services.unit_of_work() as session:
            conversation = await handoff.start_conversation(session, channel="widget", customer_id="survey-1", language="pt-BR")
        assert await desk_services.begin_ending(conversation.id, ending="goodbye")
        await desk_services.finish_survey(conversation.id, score=9, reason="atendimento rápido")
        return conversation.id

    conversation_id = desk.call(survey)
    got = receiver.wait_for(path, 1)[0]
    event = json.loads(got.body)
    assert event["type"] == "survey.answered" and event["data"]["conversation"]["id"] == conversation_id
    assert event["data"]["survey"]["score"] == 9 and event["data"]["survey"]["reason"] == "atendimento rápido"
    assert verify(hook["secret"], got.body, got.headers["x-balcao-signature"], now=now())


async def delivery_of(admin: httpx.AsyncClient, webhook_id: int) -> dict:
    listed = (await admin.get("/api/admin/integrations/deliveries", params={"webhook_id": webhook_id})).json()
    assert len(listed) == 1
    return (await admin.get(f"/api/admin/integrations/deliveries/{listed[0]['id']}")).json()


async def test_a_500_is_retried_until_the_receiver_takes_it(
    desk: RunningHub, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    path, hook = await add_webhook(admin, receiver)
    receiver.script[path].extend([500, 503])
    await queued_chat(desk)
    tries = receiver.wait_for(path, 3)
    assert len({r.body for r in tries}) == 1, "every attempt sends the same event"
    assert len({r.headers["x-balcao-delivery"] for r in tries}) == 1
    assert all(verify(hook["secret"], r.body, r.headers["x-balcao-signature"], now=now()) for r in tries)

    def delivered() -> bool:
        return desk.call(lambda: _status(desk, hook["id"])) == "delivered"

    wait_until(delivered, 30, "the delivery recorded as delivered")
    detail = await delivery_of(admin, hook["id"])
    assert detail["status"] == "delivered" and detail["attempts"] == 3
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 503, 200]
    assert detail["attempt_log"][0]["error"] == "HTTP 500"


async def _status(desk: RunningHub, webhook_id: int) -> str | None:
    from integrations.webhooks import list_deliveries

    async with desk.app.state.read_sessions() as session:
        rows = await list_deliveries(session, endpoint_id=webhook_id)
    return rows[0].status if rows else None


async def test_a_delivery_given_up_is_sent_again_from_the_log(
    desk: RunningHub, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    path, hook = await add_webhook(admin, receiver)
    receiver.script[path].extend([500, 500, 500])  # the hub's limit is 3 attempts
    await queued_chat(desk)
    receiver.wait_for(path, 3)
    wait_until(lambda: desk.call(lambda: _status(desk, hook["id"])) == "failed", 30, "the delivery given up")
    detail = await delivery_of(admin, hook["id"])
    assert detail["attempts"] == 3 and detail["last_status_code"] == 500
    r = await admin.post(f"/api/admin/integrations/deliveries/{detail['id']}/redeliver")
    assert r.status_code == 200, r.text
    again = receiver.wait_for(path, 4)[3]
    assert again.body == receiver.at(path)[0].body
    assert verify(hook["secret"], again.body, again.headers["x-balcao-signature"], now=now())
    wait_until(lambda: desk.call(lambda: _status(desk, hook["id"])) == "delivered", 30, "the redelivery recorded")
    detail = await delivery_of(admin, hook["id"])
    assert [a["status_code"] for a in detail["attempt_log"]] == [500, 500, 500, 200]
    assert (await admin.post("/api/admin/integrations/deliveries/999999/redeliver")).status_code == 404


async def test_only_public_http_targets_unless_allowed(admin: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
    for url in ("ftp://example.com/x", "javascript:alert(1)", "http://user:pw@example.com/", "https:///nohost"):
        with pytest.raises(WebhookRefused):
            check_url(url)
    for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/"):
        with pytest.raises(WebhookRefused):
            await check_target(url, allow_private=False)
        await check_target(url, allow_private=True)
    await check_target("https://93.184.215.14/hook", allow_private=False)  # a public address, not called
    r = await admin.post("/api/admin/integrations/webhooks", json={"url": "ftp://x/", "events": ["conversation.queued"]})
    assert r.status_code == 422
    r = await admin.post("/api/admin/integrations/webhooks", json={"url": "https://example.com/", "events": ["nope"]})
    assert r.status_code == 422 and "nope" in r.json()["detail"]
    r = await agent.post(
        "/api/admin/integrations/webhooks", json={"url": "https://example.com/", "events": ["conversation.queued"]}
    )
    assert r.status_code == 403


def test_the_signature_is_stripe_shaped() -> None:
    assert sign("whsec_x", b'{"a":1}', 1700000000) == (
        "t=1700000000,v1=" + __import__("hmac").new(b"whsec_x", b'1700000000.{"a":1}', "sha256").hexdigest()
    )


async def test_erasing_a_customer_removes_the_deliveries_about_them(
    desk: RunningHub, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    path, hook = await add_webhook(admin, receiver)
    customer_id = await queued_chat(desk, "meu CPF é 123.456.789-00")
    receiver.wait_for(path, 1)
    assert len((await admin.get("/api/admin/integrations/deliveries", params={"webhook_id": hook["id"]})).json()) == 1
    r = await admin.post("/api/admin/privacy/erase", json={"customer": customer_id})
    assert r.status_code == 200, r.text
    assert (await admin.get("/api/admin/integrations/deliveries", params={"webhook_id": hook["id"]})).json() == []


async def test_a_receiver_that_refuses_is_not_retried(desk: RunningHub, admin: httpx.AsyncClient, receiver: Receiver) -> None:
    path, hook = await add_webhook(admin, receiver)
    receiver.script[path].append(410)  # gone: asking again changes nothing
    await queued_chat(desk)
    receiver.wait_for(path, 1)
    wait_until(lambda: desk.call(lambda: _status(desk, hook["id"])) == "failed", 30, "the delivery given up")
    detail = await delivery_of(admin, hook["id"])
    assert detail["attempts"] == 1 and [a["status_code"] for a in detail["attempt_log"]] == [410]
    assert len(receiver.at(path)) == 1
