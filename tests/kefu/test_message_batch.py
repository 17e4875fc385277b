"""message_send_many: many sockets' messages in one transaction, each answered as message_send would."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kefu import signals
from kefu.errors import Conflict, Forbidden, InvalidInput
from kefu.models import Conversation, Message, SenderType, Status
from kefu.services.conversations import conversation_close
from kefu.services.messages import SendRequest, SendResult, message_send, message_send_many
from tests.factories import AgentFactory, ConversationFactory
from tests.kefu.concurrency import run_together

pytestmark = pytest.mark.postgres


@pytest.fixture(
    params=[
        pytest.param("autocommit", marks=pytest.mark.django_db(transaction=True)),
        pytest.param("savepoint", marks=pytest.mark.django_db),
    ]
)
def mode(request: pytest.FixtureRequest) -> str:
    """autocommit: a transaction of its own, as on a server; savepoint: inside a caller's transaction."""
    return request.param


def visitor(conv: Conversation, body: str, cid: str | None = None) -> SendRequest:
    return SendRequest(conversation_id=conv.pk, sender_type=SenderType.VISITOR, body=body, client_msg_id=cid)


def statements(queries: CaptureQueriesContext) -> list[str]:
    # Without transaction control: the test's own savepoints, or BEGIN and COMMIT.
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"] and q["sql"] not in ("BEGIN", "COMMIT")]


def test_a_batch_is_two_statements_and_stores_what_message_send_would(mode):
    a = ConversationFactory()
    agent = AgentFactory(tenant=a.tenant)
    b = ConversationFactory(tenant=a.tenant, status=Status.ASSIGNED, assignee=agent)
    message_send(conversation=a, sender_type=SenderType.VISITOR, body="before")
    requests = [
        # Rows travel as arrays: quotes, braces, commas and backslashes must come back as sent.
        visitor(a, 'a2 "quoted", {braces} back\\slash NULL\n二', "c1"),
        visitor(b, "b1", "c1"),
        SendRequest(
            conversation_id=b.pk,
            sender_type=SenderType.AGENT,
            agent=agent,
            body="reply",
            client_msg_id="r1",
            trace_id="t-reply",
        ),
        visitor(a, "a3"),
        SendRequest(conversation_id=b.pk, sender_type=SenderType.AGENT, agent=agent, body="note", is_internal=True),
    ]
    with CaptureQueriesContext(connection) as queries:
        results = message_send_many(requests)
    # The lock of every conversation; every insert and update.
    assert len(statements(queries)) == 2, statements(queries)
    assert all(isinstance(r, SendResult) and r.created for r in results)
    assert [(r.message.conversation_id, r.message.seq) for r in results] == [  # type: ignore[union-attr]
        (a.pk, 2),
        (b.pk, 1),
        (b.pk, 2),
        (a.pk, 3),
        (b.pk, 3),
    ]
    for result in results:
        sent = result.message  # type: ignore[union-attr]
        stored = Message.objects.get(pk=sent.pk)
        for field in Message._meta.concrete_fields:
            assert getattr(stored, field.attname) == getattr(sent, field.attname), field.name
    assert Message.objects.get(conversation=a, seq=2).body == 'a2 "quoted", {braces} back\\slash NULL\n二'
    assert Message.objects.get(client_msg_id="r1").trace_id == "t-reply"
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.last_seq == 3 and a.last_visitor_message_at is not None and a.first_response_at is None
    # The reply marked b read up to itself; the note after it did not.
    assert (b.last_seq, b.agent_read_seq) == (3, 2) and b.first_response_at is not None
    assert b.last_message_at is not None and b.last_message_at <= Message.objects.get(client_msg_id="r1").created_at


def test_a_refused_message_does_not_hold_back_the_others(mode):
    conv, other = ConversationFactory(), ConversationFactory()
    agent = AgentFactory(tenant=conv.tenant)

    def refuse(c: Conversation) -> None:
        raise Forbidden()

    results = message_send_many(
        [
            visitor(conv, "   "),  # empty
            SendRequest(conversation_id=conv.pk, sender_type=SenderType.VISITOR, body="x", is_internal=True),
            SendRequest(
                conversation_id=other.pk, sender_type=SenderType.AGENT, agent=agent, body="no", authorize=refuse
            ),
            SendRequest(conversation_id=999_999_999, sender_type=SenderType.VISITOR, body="nowhere"),
            visitor(conv, "fine"),
            SendRequest(conversation_id=conv.pk, sender_type="robot", body="who"),
        ]
    )
    assert isinstance(results[0], InvalidInput) and results[0].code == "empty"
    assert isinstance(results[1], InvalidInput) and results[1].code == "bad_internal"
    assert isinstance(results[2], Forbidden)
    assert isinstance(results[3], Conversation.DoesNotExist)
    assert isinstance(results[4], SendResult) and results[4].message.seq == 1
    assert isinstance(results[5], InvalidInput) and results[5].code == "bad_sender"
    assert list(Message.objects.values_list("conversation_id", "seq", "body")) == [(conv.pk, 1, "fine")]


def test_closed_conversations_and_repeated_ids_are_left_to_message_send_in_order(mode):
    closed, open_ = ConversationFactory(status=Status.QUEUED), ConversationFactory()
    conversation_close(conversation=closed)
    closed.refresh_from_db()
    agent = AgentFactory(tenant=closed.tenant)
    results = message_send_many(
        [
            SendRequest(conversation_id=closed.pk, sender_type=SenderType.AGENT, agent=agent, body="too late"),
            visitor(closed, "I am back", "v1"),
            visitor(open_, "one", "same"),
            visitor(closed, "still here", "v2"),
            visitor(open_, "one (retry)", "same"),
            visitor(open_, "two", "other"),
        ]
    )
    assert isinstance(results[0], Conflict) and results[0].code == "conversation_closed"
    assert [r.message.seq for r in results[1:] if isinstance(r, SendResult)] == [
        closed.last_seq + 1,
        1,
        closed.last_seq + 2,
        1,
        2,
    ]
    retry = results[4]
    assert isinstance(retry, SendResult) and not retry.created
    assert retry.message.pk == results[2].message.pk and retry.message.body == "one"  # type: ignore[union-attr]
    assert retry.message.conversation.last_seq == 1  # as stored when answered ("two" came after), not as staged
    closed.refresh_from_db()
    assert closed.status == Status.QUEUED and closed.closed_at is None


def test_a_retry_of_a_stored_id_rolls_the_batch_back_and_each_is_sent_alone(mode, django_capture_on_commit_callbacks):
    conv, other = ConversationFactory(), ConversationFactory()
    first = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="hi", client_msg_id="c-1").message
    stored: list[int] = []

    def on_stored(sender, message, **kwargs):  # type: ignore[no-untyped-def]
        stored.append(message.pk)

    signals.message_stored.connect(on_stored, dispatch_uid="test.batch.stored")
    try:
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            results = message_send_many(
                [visitor(other, "x", "o-1"), visitor(conv, "hi (retry)", "c-1"), visitor(conv, "next", "c-2")]
            )
    finally:
        signals.message_stored.disconnect(dispatch_uid="test.batch.stored")
    sql = statements(queries)
    # The batch (lock all, insert all) ran and was undone; then each message was sent alone.
    assert "ANY(" in sql[0] and "unnest" in sql[1]
    assert len(sql) > 2 and all("ANY(" not in q and "unnest" not in q for q in sql[2:])
    assert [(r.message.seq, r.created) for r in results] == [(1, True), (1, False), (2, True)]  # type: ignore[union-attr]
    assert results[1].message.pk == first.pk  # type: ignore[union-attr]
    assert list(Message.objects.filter(conversation=conv).order_by("seq").values_list("body", flat=True)) == [
        "hi",
        "next",
    ]
    # Announced once each, by the sends that stored them, not by the rolled-back batch.
    assert sorted(stored) == sorted([results[0].message.pk, results[2].message.pk])  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_the_same_conversations_stay_gap_free():
    convs = [ConversationFactory() for _ in range(4)]
    workers, rounds = 4, 10

    def run(worker: int) -> None:
        for i in range(rounds):
            # Every batch touches every conversation, in a different order per worker.
            batch = [visitor(c, f"w{worker}-{i}", f"w{worker}-{i}") for c in convs[worker:] + convs[:worker]]
            for result in message_send_many(batch):
                if not isinstance(result, SendResult) or not result.created:
                    raise AssertionError(result)

    assert not run_together(run, workers)
    for conv in convs:
        seqs = list(Message.objects.filter(conversation=conv).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, workers * rounds + 1))
        conv.refresh_from_db()
        assert conv.last_seq == workers * rounds
