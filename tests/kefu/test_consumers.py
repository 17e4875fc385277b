"""Visitor and agent sockets through the real ASGI application (WebsocketCommunicator)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.core import signing

from kefu.consumers import agent as agent_module
from kefu.consumers import visitor as visitor_module
from kefu.models import Conversation, Message, Presence, Role, Status
from kefu.visitor_tokens import SALT
from tests.factories import AgentFactory, ConversationFactory, TenantFactory, VisitorFactory
from tests.kefu.live_helpers import (
    closed_with,
    collect,
    drain,
    open_agent,
    open_visitor,
    send,
    until,
    visitor_token,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def world(settings):
    settings.KEFU_PRESENCE_GRACE_SECONDS = 0
    tenant = TenantFactory()
    visitor = VisitorFactory(tenant=tenant)
    agent = AgentFactory(tenant=tenant)
    return {"tenant": tenant, "visitor": visitor, "agent": agent}


async def test_send_ack_after_commit_and_duplicate_stores_nothing(world):
    comm, welcome = await open_visitor(visitor_token(world["visitor"]))
    assert welcome["type"] == "welcome" and welcome["conversation"] is None
    await send(comm, {"type": "send", "client_msg_id": "c-1", "kind": "text", "body": "你好"})
    ack = await until(comm, "ack")
    assert ack["duplicate"] is False and ack["seq"] == 1
    stored = await sync_to_async(Message.objects.get)(pk=ack["id"])
    assert stored.body == "你好" and stored.client_msg_id == "c-1"
    await send(comm, {"type": "send", "client_msg_id": "c-1", "kind": "text", "body": "你好"})
    again = await until(comm, "ack")
    assert again["duplicate"] is True and again["id"] == ack["id"] and again["seq"] == ack["seq"]
    visitor_rows = Message.objects.filter(conversation_id=ack["conversation_id"], sender_type="visitor")
    count = await sync_to_async(visitor_rows.count)()
    assert count == 1
    await comm.disconnect()


async def test_sends_of_many_sockets_are_stored_together_and_each_answered(world, monkeypatch):
    from kefu.consumers import writes

    comms = []
    for _ in range(6):
        visitor = await sync_to_async(VisitorFactory)(tenant=world["tenant"])
        comm, _welcome = await open_visitor(visitor_token(visitor))
        await send(comm, {"type": "send", "client_msg_id": "first", "body": "hi"})  # opens the conversation
        await until(comm, "ack")
        comms.append(comm)
    batches: list[int] = []
    real = writes.message_send_many

    def spy(requests):  # type: ignore[no-untyped-def]
        batches.append(len(requests))
        if len(batches) == 1:
            time.sleep(0.3)  # hold the first batch while the other sockets' sends queue
        return real(requests)

    monkeypatch.setattr(writes, "message_send_many", spy)
    for i, comm in enumerate(comms):
        await send(comm, {"type": "send", "client_msg_id": f"c{i}", "body": "   " if i == 3 else f"m{i}"})
    for i, comm in enumerate(comms):
        if i == 3:  # refused alone; its neighbours in the batch are stored
            assert (await until(comm, "error"))["code"] == "empty"
            continue
        ack = await until(comm, "ack")
        assert (ack["client_msg_id"], ack["seq"], ack["duplicate"]) == (f"c{i}", 2, False)
        stored = await sync_to_async(Message.objects.get)(pk=ack["id"])
        assert stored.body == f"m{i}"
    assert sum(batches) == 6 and max(batches) > 1
    for comm in comms:
        await comm.disconnect()


async def test_visitor_message_limit_per_minute(world):
    tenant = world["tenant"]
    tenant.visitor_messages_per_minute = 2
    await sync_to_async(tenant.save)()
    comm, _ = await open_visitor(visitor_token(world["visitor"]))
    for cid in ("a", "b"):  # the first opens the conversation, the second takes the batched path
        await send(comm, {"type": "send", "client_msg_id": cid, "body": cid})
        await until(comm, "ack", client_msg_id=cid)
    await send(comm, {"type": "send", "client_msg_id": "c", "body": "c"})
    assert (await until(comm, "error"))["code"] == "rate_limited"
    bodies = await sync_to_async(list)(Message.objects.filter(sender_type="visitor").values_list("body", flat=True))
    assert sorted(bodies) == ["a", "b"]
    await comm.disconnect()


async def test_forged_and_expired_tokens_are_refused(world):
    forged = visitor_token(world["visitor"])[:-3] + "abc"
    comm, frame = await open_visitor(forged)
    assert frame["code"] == "auth_failed"
    assert await closed_with(comm) == 4001

    other_salt = signing.dumps({"t": world["tenant"].pk, "v": world["visitor"].pk}, salt="something-else")
    comm, frame = await open_visitor(other_salt)
    assert frame["code"] == "auth_failed"
    assert await closed_with(comm) == 4001

    old = signing.TimestampSigner(salt=SALT)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("time.time", lambda: 1_000_000.0)
        expired = signing.dumps({"t": world["tenant"].pk, "v": world["visitor"].pk}, salt=SALT)
    assert old is not None
    comm, frame = await open_visitor(expired)
    assert frame["code"] == "auth_failed"
    assert await closed_with(comm) == 4001


async def test_origin_not_allowed_and_blocked_visitor_closed_4003(world):
    comm, frame = await open_visitor(visitor_token(world["visitor"]), origin="http://evil.test")
    assert frame["code"] == "forbidden"
    assert await closed_with(comm) == 4003

    visitor = world["visitor"]
    visitor.is_blocked = True
    await sync_to_async(visitor.save)()
    comm, frame = await open_visitor(visitor_token(visitor))
    assert frame["code"] == "forbidden"
    assert await closed_with(comm) == 4003


async def test_hello_must_come_in_time(world, monkeypatch):
    monkeypatch.setattr(visitor_module, "HELLO_TIMEOUT", 0.2)
    comm, _ = await open_visitor(None, hello=False)
    assert await closed_with(comm) == 4001


async def test_frames_before_hello_are_rejected(world):
    comm, _ = await open_visitor(None, hello=False)
    await send(comm, {"type": "send", "client_msg_id": "x", "body": "hi"})
    frame = await until(comm, "error")
    assert frame["code"] == "auth_required"
    await comm.disconnect()


async def test_bad_frames_answer_errors_and_keep_the_socket(world):
    comm, _ = await open_visitor(visitor_token(world["visitor"]))
    await comm.send_to(text_data="{not json")
    assert (await until(comm, "error"))["code"] == "bad_json"
    await send(comm, {"type": "nope"})
    assert (await until(comm, "error"))["code"] == "unknown_type"
    await comm.send_to(text_data="[1,2]")
    assert (await until(comm, "error"))["code"] == "bad_frame"
    await send(comm, {"type": "send", "client_msg_id": "e1", "kind": "text", "body": "   "})
    assert (await until(comm, "error"))["code"] == "empty"
    await send(comm, {"type": "send", "client_msg_id": "e2", "kind": "video", "body": "x"})
    assert (await until(comm, "error"))["code"] == "bad_kind"
    await send(comm, {"type": "send", "client_msg_id": "e3", "kind": "image", "body": ""})
    assert (await until(comm, "error"))["code"] == "attachment_required"
    await send(comm, {"type": "ping", "ts": 7})
    assert (await until(comm, "pong"))["ts"] == 7
    await comm.disconnect()


async def test_oversized_frame_closes_4009(world):
    comm, _ = await open_visitor(visitor_token(world["visitor"]))
    await comm.send_to(text_data=json.dumps({"type": "send", "body": "x" * 70_000}))
    assert (await until(comm, "error"))["code"] == "too_large"
    assert await closed_with(comm) == 4009


async def test_flood_is_rate_limited_then_closed_4008(world):
    comm, _ = await open_visitor(visitor_token(world["visitor"]))
    for i in range(120):
        await send(comm, {"type": "ping", "ts": i})
    frames = []
    code = None
    while code is None:
        message = await comm.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            code = message["code"]
        else:
            frames.append(json.loads(message["text"]))
    assert any(f["type"] == "error" and f["code"] == "rate_limited" for f in frames)
    assert code == 4008
    # A neighbour on the same server is unaffected.
    other = await sync_to_async(VisitorFactory)(tenant=world["tenant"])
    comm2, welcome = await open_visitor(visitor_token(other))
    assert welcome["type"] == "welcome"
    await comm2.disconnect()


async def test_visitor_and_agent_talk_notes_stay_internal_typing_and_read(world):
    agent = world["agent"]
    v_comm, _ = await open_visitor(visitor_token(world["visitor"]))
    await send(v_comm, {"type": "send", "client_msg_id": "v1", "body": "need help"})
    ack = await until(v_comm, "ack")
    conv_id = ack["conversation_id"]

    a_comm, connected, _ = await open_agent(agent.user)
    assert connected
    welcome = await until(a_comm, "welcome")
    assert welcome["agent"]["id"] == agent.pk
    # The agent went online, so routing assigned the queued conversation to them.
    await until(v_comm, "conversation", event="assigned")
    await send(a_comm, {"type": "watch", "conversation_id": conv_id, "last_seq": 0})
    replay = await until(a_comm, "messages")
    assert [m["seq"] for m in replay["messages"]] == list(range(1, len(replay["messages"]) + 1))

    await send(a_comm, {"type": "send", "conversation_id": conv_id, "client_msg_id": "a1", "body": "hello!"})
    a_ack = await until(a_comm, "ack")
    got = await until(v_comm, "message")
    while got["message"]["id"] != a_ack["id"]:
        got = await until(v_comm, "message")
    assert got["message"]["body"] == "hello!" and got["message"]["sender_type"] == "agent"

    await send(
        a_comm,
        {"type": "send", "conversation_id": conv_id, "client_msg_id": "n1", "body": "secret note", "is_internal": True},
    )
    note_ack = (await collect(a_comm, {"ack", "message"}))["ack"]
    frames = await drain(v_comm, 0.5)
    assert not any(f.get("type") == "message" and f["message"]["id"] == note_ack["id"] for f in frames)
    assert not any("secret note" in json.dumps(f) for f in frames)
    # The visitor learns that the note's number is taken, and nothing else of it.
    skips = [f for f in frames if f.get("type") == "skip"]
    assert skips == [{"type": "skip", "conversation_id": conv_id, "seq": note_ack["seq"]}]

    await send(v_comm, {"type": "typing", "state": True})
    typing = await until(a_comm, "typing")
    assert typing["sender_type"] == "visitor" and typing["state"] is True
    await send(a_comm, {"type": "typing", "conversation_id": conv_id, "state": True})
    typing = await until(v_comm, "typing")
    assert typing["sender_type"] == "agent"

    await send(v_comm, {"type": "read", "seq": a_ack["seq"]})
    read = await until(a_comm, "read")
    assert read["reader"] == "visitor" and read["seq"] == a_ack["seq"]
    conv = await sync_to_async(Conversation.objects.get)(pk=conv_id)
    assert conv.visitor_read_seq == a_ack["seq"]
    await v_comm.disconnect()
    await a_comm.disconnect()


async def test_resume_replays_everything_after_last_seq_without_internal_notes(world):
    conv = await sync_to_async(ConversationFactory)(
        tenant=world["tenant"], visitor=world["visitor"], status=Status.ASSIGNED, assignee=world["agent"]
    )
    from kefu.services.messages import message_send

    for i in range(5):
        await sync_to_async(message_send)(conversation=conv, sender_type="visitor", body=f"m{i}")
    await sync_to_async(message_send)(
        conversation=conv, sender_type="agent", agent=world["agent"], body="note", is_internal=True
    )
    await sync_to_async(message_send)(conversation=conv, sender_type="agent", agent=world["agent"], body="reply")
    comm, welcome = await open_visitor(visitor_token(world["visitor"]), last_seq=2)
    assert welcome["last_seq"] == 7
    page = await until(comm, "messages")
    assert [m["seq"] for m in page["messages"]] == [3, 4, 5, 7]
    assert page["has_more"] is False and page["through_seq"] == 7
    await send(comm, {"type": "resume", "last_seq": 5})
    page = await until(comm, "messages")
    assert [m["body"] for m in page["messages"]] == ["reply"]
    # A note as the last message: the page is empty for the visitor but says how far it reached.
    await sync_to_async(message_send)(
        conversation=conv, sender_type="agent", agent=world["agent"], body="last note", is_internal=True
    )
    await send(comm, {"type": "resume", "last_seq": 7})
    page = await until(comm, "messages")
    assert page["messages"] == [] and page["through_seq"] == 8
    await comm.disconnect()


async def test_replay_pages_count_internal_notes_towards_through_seq(world, monkeypatch):
    from kefu.consumers import base
    from kefu.services.messages import message_send

    monkeypatch.setattr(base, "PAGE_SIZE", 3)
    conv = await sync_to_async(ConversationFactory)(
        tenant=world["tenant"], visitor=world["visitor"], status=Status.ASSIGNED, assignee=world["agent"]
    )
    for i in range(1, 9):  # 3, 4 and 6 are notes
        internal = i in (3, 4, 6)
        await sync_to_async(message_send)(
            conversation=conv,
            sender_type="agent" if internal else "visitor",
            agent=world["agent"] if internal else None,
            body=f"m{i}",
            is_internal=internal,
        )
    comm, _ = await open_visitor(visitor_token(world["visitor"]), last_seq=0)
    pages = [await until(comm, "messages") for _ in range(3)]
    assert [([m["seq"] for m in p["messages"]], p["through_seq"], p["has_more"]) for p in pages] == [
        ([1, 2], 3, True),
        ([5], 6, True),
        ([7, 8], 8, False),
    ]
    await comm.disconnect()


async def test_replayed_attachments_carry_links_the_visitor_can_open(world, client):
    conv = await sync_to_async(ConversationFactory)(tenant=world["tenant"], visitor=world["visitor"])
    from kefu.services.attachments import attachment_create
    from kefu.services.messages import message_send

    def store() -> None:
        attachment = attachment_create(tenant=conv.tenant, data=b"plain text file", filename="a.txt", conversation=conv)
        message_send(conversation=conv, sender_type="agent", agent=world["agent"], kind="file", attachment=attachment)

    await sync_to_async(store)()
    comm, _ = await open_visitor(visitor_token(world["visitor"]), last_seq=0)
    page = await until(comm, "messages")
    url = page["messages"][0]["attachment"]["url"]
    await comm.disconnect()
    assert url.startswith("/widget/api/attachments/") and "?s=" in url
    response = await sync_to_async(client.get)(url, HTTP_ORIGIN="http://shop.test")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"plain text file"


async def test_resume_pages_long_histories(world):
    conv = await sync_to_async(ConversationFactory)(tenant=world["tenant"], visitor=world["visitor"])
    from kefu.models import Message as M

    rows = [
        M(tenant_id=conv.tenant_id, conversation=conv, seq=i, sender_type="visitor", body=str(i)) for i in range(1, 451)
    ]
    await sync_to_async(M.objects.bulk_create)(rows)
    conv.last_seq = 450
    await sync_to_async(conv.save)(update_fields=["last_seq"])
    comm, _ = await open_visitor(visitor_token(world["visitor"]), last_seq=0)
    seqs = []
    while True:
        page = await until(comm, "messages")
        seqs += [m["seq"] for m in page["messages"]]
        if not page["has_more"]:
            break
    assert seqs == list(range(1, 451))
    await comm.disconnect()


async def test_concurrent_senders_get_gap_free_ordered_seqs(world):
    visitor = world["visitor"]
    v1, _ = await open_visitor(visitor_token(visitor))
    await send(v1, {"type": "send", "client_msg_id": "first", "body": "start"})
    conv_id = (await until(v1, "ack"))["conversation_id"]
    v2, _ = await open_visitor(visitor_token(visitor))
    agent = world["agent"]
    a, connected, _ = await open_agent(agent.user)
    assert connected
    await until(a, "welcome")
    await send(a, {"type": "watch", "conversation_id": conv_id})

    async def burst(comm, prefix, extra):
        for i in range(12):
            await send(comm, {"type": "send", "client_msg_id": f"{prefix}{i}", "body": f"{prefix}{i}", **extra})

    await asyncio.gather(burst(v1, "x", {}), burst(v2, "y", {}), burst(a, "z", {"conversation_id": conv_id}))
    acks = []
    for comm in (v1, v2, a):
        for _ in range(12):
            acks.append(await until(comm, "ack", timeout=10))
    seqs = sorted(ack["seq"] for ack in acks)
    assert len(set(seqs)) == 36
    stored = await sync_to_async(list)(Message.objects.filter(conversation_id=conv_id).values_list("seq", flat=True))
    assert sorted(stored) == list(range(1, len(stored) + 1))
    for comm in (v1, v2, a):
        await comm.disconnect()


async def test_tenant_isolation(world):
    other_tenant = await sync_to_async(TenantFactory)()
    other_agent = await sync_to_async(AgentFactory)(tenant=other_tenant, role=Role.ADMIN)
    v, _ = await open_visitor(visitor_token(world["visitor"]))
    await send(v, {"type": "send", "client_msg_id": "iso", "body": "private"})
    conv_id = (await until(v, "ack"))["conversation_id"]
    a, connected, _ = await open_agent(other_agent.user)
    assert connected
    await until(a, "welcome")
    await send(a, {"type": "watch", "conversation_id": conv_id, "last_seq": 0})
    assert (await until(a, "error"))["code"] == "not_found"
    await send(a, {"type": "send", "conversation_id": conv_id, "client_msg_id": "evil", "body": "x"})
    assert (await until(a, "error"))["code"] == "not_found"
    await send(v, {"type": "send", "client_msg_id": "iso2", "body": "still private"})
    frames = await drain(a, 0.5)
    assert not any("private" in json.dumps(f) for f in frames)
    # A second visitor of the same tenant does not hear the first.
    other_visitor = await sync_to_async(VisitorFactory)(tenant=world["tenant"])
    v2, _ = await open_visitor(visitor_token(other_visitor))
    await send(v, {"type": "send", "client_msg_id": "iso3", "body": "for my eyes"})
    assert not any("for my eyes" in json.dumps(f) for f in await drain(v2, 0.5))
    for comm in (v, v2, a):
        await comm.disconnect()


async def test_agent_socket_refuses_foreign_origin_and_anonymous(world):
    refused, connected, _ = await open_agent(world["agent"].user, origin="http://evil.test")
    assert not connected
    await refused.disconnect()
    from channels.testing import WebsocketCommunicator

    from kefu.asgi import application

    comm = WebsocketCommunicator(
        application, "/ws/agent/", headers=[(b"origin", b"http://testserver"), (b"host", b"testserver")]
    )
    connected, _ = await comm.connect(timeout=5)
    assert not connected
    await comm.disconnect()


async def test_deactivating_agent_closes_socket_4010(world):
    agent = world["agent"]
    a, connected, _ = await open_agent(agent.user)
    assert connected
    await until(a, "welcome")
    agent.is_active = False
    await sync_to_async(agent.save)()
    assert await closed_with(a) == 4010


async def test_disabling_user_closes_socket_4010(world):
    agent = world["agent"]
    a, connected, _ = await open_agent(agent.user)
    assert connected
    await until(a, "welcome")
    user = agent.user
    user.is_active = False
    await sync_to_async(user.save)()
    assert await closed_with(a) == 4010


async def test_blocking_visitor_closes_socket_4003(world):
    v, _ = await open_visitor(visitor_token(world["visitor"]))
    visitor = world["visitor"]
    visitor.is_blocked = True
    await sync_to_async(visitor.save)()
    assert await closed_with(v) == 4003


async def test_presence_online_then_offline_and_inbox_counts(world):
    agent = world["agent"]
    a, connected, _ = await open_agent(agent.user)
    assert connected
    welcome = await until(a, "welcome")
    assert set(welcome["counts"]) == {"mine", "queued", "bot", "all", "unread"}
    await agent.arefresh_from_db()
    assert agent.presence == Presence.ONLINE
    await send(a, {"type": "presence", "status": "away"})
    frame = await until(a, "presence", agent_id=agent.pk)
    assert frame["status"] == "away"
    v, _ = await open_visitor(visitor_token(world["visitor"]))
    await send(v, {"type": "send", "client_msg_id": "q1", "body": "anyone?"})
    await until(v, "ack")
    inbox = await until(a, "inbox")
    assert inbox["counts"]["queued"] == 1
    await a.disconnect()
    await agent.arefresh_from_db()
    assert agent.presence == Presence.OFFLINE
    await v.disconnect()


async def test_one_inbox_recount_serves_every_agent_socket_of_the_tenant(world, monkeypatch):
    tenant, first = world["tenant"], world["agent"]
    first.capacity = 1  # full with its one conversation: routing leaves the queued one alone
    await sync_to_async(first.save)()
    second = await sync_to_async(AgentFactory)(tenant=tenant, capacity=0)
    await sync_to_async(ConversationFactory)(
        tenant=tenant, status=Status.ASSIGNED, assignee=first, last_seq=3, agent_read_seq=1
    )
    await sync_to_async(ConversationFactory)(tenant=tenant, visitor=world["visitor"], status=Status.QUEUED)
    calls: list[int] = []
    rows = agent_module._inbox_rows

    def counted(tenant_id: int) -> list:
        calls.append(tenant_id)
        return rows(tenant_id)

    monkeypatch.setattr(agent_module, "_inbox_rows", counted)
    monkeypatch.setattr(agent_module, "COUNTS_DEBOUNCE", 1.0)
    a, connected_a, _ = await open_agent(first.user)
    b, connected_b, _ = await open_agent(second.user)
    assert connected_a and connected_b
    assert (await until(a, "welcome"))["counts"] == {"mine": 1, "queued": 1, "bot": 0, "all": 2, "unread": 1}
    await until(b, "welcome")
    calls.clear()
    v, _ = await open_visitor(visitor_token(world["visitor"]))
    await send(v, {"type": "send", "client_msg_id": "n1", "body": "anyone?"})
    await send(v, {"type": "send", "client_msg_id": "n2", "body": "hello?"})
    assert (await until(a, "inbox"))["counts"] == {"mine": 1, "queued": 1, "bot": 0, "all": 2, "unread": 1}
    assert (await until(b, "inbox"))["counts"] == {"mine": 0, "queued": 1, "bot": 0, "all": 2, "unread": 0}
    assert calls == [tenant.pk]
    assert not [f for f in await drain(a) + await drain(b) if f["type"] == "inbox"]
    for comm in (a, b, v):
        await comm.disconnect()


async def test_agent_reply_checks_access_first_and_takes_a_queued_conversation(world):
    tenant, agent = world["tenant"], world["agent"]
    agent.capacity = 0  # routing leaves queued conversations alone; a reply still takes one
    await sync_to_async(agent.save)()
    other = await sync_to_async(AgentFactory)(tenant=tenant)
    queued = await sync_to_async(ConversationFactory)(tenant=tenant, visitor=world["visitor"], status=Status.QUEUED)
    theirs = await sync_to_async(ConversationFactory)(tenant=tenant, status=Status.ASSIGNED, assignee=other)
    foreign = await sync_to_async(ConversationFactory)(tenant=await sync_to_async(TenantFactory)())
    a, connected, _ = await open_agent(agent.user)
    assert connected
    await until(a, "welcome")
    for conv_id, code in ((foreign.pk, "not_found"), (theirs.pk, "forbidden"), (10**12, "not_found")):
        await send(a, {"type": "send", "conversation_id": conv_id, "client_msg_id": f"x{conv_id}", "body": ""})
        assert (await until(a, "error"))["code"] == code  # access is judged before the (empty) body
    await send(
        a, {"type": "send", "conversation_id": queued.pk, "client_msg_id": "note", "body": "n", "is_internal": True}
    )
    assert (await until(a, "ack"))["seq"] == 1
    await queued.arefresh_from_db()
    assert queued.status == Status.QUEUED  # a note does not take it
    await send(a, {"type": "send", "conversation_id": queued.pk, "client_msg_id": "r1", "body": "hello"})
    ack = await until(a, "ack")
    assert (ack["conversation_id"], ack["seq"], ack["duplicate"]) == (queued.pk, 3, False)  # 2: "assigned" line
    await queued.arefresh_from_db()
    assert (queued.status, queued.assignee_id) == (Status.ASSIGNED, agent.pk)
    await send(a, {"type": "send", "conversation_id": queued.pk, "client_msg_id": "r1", "body": "hello"})
    again = await until(a, "ack")
    assert again["duplicate"] and again["id"] == ack["id"]
    stored = await sync_to_async(
        lambda: sorted(Message.objects.filter(conversation_id__in=[theirs.pk, foreign.pk]).values_list("pk", flat=True))
    )()
    assert stored == []
    await a.disconnect()


async def test_queue_position_frames_and_auto_assignment(world):
    tenant = world["tenant"]
    visitors = [await sync_to_async(VisitorFactory)(tenant=tenant) for _ in range(2)]
    socks = []
    for i, visitor in enumerate(visitors):
        comm, _ = await open_visitor(visitor_token(visitor))
        await send(comm, {"type": "send", "client_msg_id": f"q{i}", "body": "hi"})
        await until(comm, "ack")
        socks.append(comm)
    queue = await until(socks[1], "queue")
    assert queue["position"] == 2
    agent = world["agent"]
    a, connected, _ = await open_agent(agent.user)
    assert connected
    for comm in socks:
        frame = await until(comm, "conversation", event="assigned")
        assert frame["conversation"]["assignee"]["id"] == agent.pk
    for comm in [*socks, a]:
        await comm.disconnect()


async def test_supervisor_may_watch_any_agent_only_own_and_queued(world):
    tenant = world["tenant"]
    owner = await sync_to_async(AgentFactory)(tenant=tenant, role=Role.ADMIN)
    conv = await sync_to_async(ConversationFactory)(
        tenant=tenant, visitor=world["visitor"], status=Status.ASSIGNED, assignee=owner
    )
    a, connected, _ = await open_agent(world["agent"].user)
    assert connected
    await until(a, "welcome")
    await send(a, {"type": "watch", "conversation_id": conv.pk})
    assert (await until(a, "error"))["code"] == "forbidden"
    sup, connected, _ = await open_agent(owner.user)
    assert connected
    await until(sup, "welcome")
    await send(sup, {"type": "watch", "conversation_id": conv.pk, "last_seq": 0})
    await send(sup, {"type": "ping"})
    frames = await drain(sup, 0.5)
    assert not any(f["type"] == "error" for f in frames)
    await a.disconnect()
    await sup.disconnect()


async def test_agent_cannot_send_into_closed_conversation(world):
    conv = await sync_to_async(ConversationFactory)(
        tenant=world["tenant"], visitor=world["visitor"], status=Status.CLOSED, closed_at=dt.datetime.now(dt.UTC)
    )
    owner = await sync_to_async(AgentFactory)(tenant=world["tenant"], role=Role.OWNER)
    a, connected, _ = await open_agent(owner.user)
    assert connected
    await until(a, "welcome")
    await send(a, {"type": "send", "conversation_id": conv.pk, "client_msg_id": "late", "body": "hello?"})
    assert (await until(a, "error"))["code"] == "conversation_closed"
    await a.disconnect()
