"""message_send: idempotency by client message id, gap-free sequence numbers, cleaning."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from kefu.errors import Conflict, InvalidInput
from kefu.models import Kind, Message, SenderType, Status
from kefu.services.conversations import conversation_close
from kefu.services.messages import message_send
from tests.factories import AgentFactory, ConversationFactory
from tests.kefu.concurrency import run_together

pytestmark = pytest.mark.django_db


def test_sequence_numbers_start_at_one_and_increase():
    conv = ConversationFactory()
    seqs = [message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"m{i}").message.seq for i in range(3)]
    assert seqs == [1, 2, 3]
    conv.refresh_from_db()
    assert conv.last_seq == 3
    assert conv.last_visitor_message_at is not None


def test_repeated_client_message_id_returns_the_first_row():
    conv = ConversationFactory()
    first = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="hi", client_msg_id="c-1")
    again = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="hi (retry)", client_msg_id="c-1")
    assert first.created and not again.created
    assert again.message.pk == first.message.pk and again.message.body == "hi"
    assert Message.objects.filter(conversation=conv).count() == 1


def test_stored_row_matches_what_the_orm_would_store():
    conv = ConversationFactory()
    agent = AgentFactory(tenant=conv.tenant)
    sent = message_send(
        conversation=conv,
        sender_type=SenderType.AGENT,
        agent=agent,
        body="hello",
        client_msg_id="r-1",
        is_internal=True,
        metadata={"event": "x", "n": [1, "二"]},
    ).message
    stored = Message.objects.get(pk=sent.pk)
    assert not sent._state.adding and sent._state.db == "default"
    for field in Message._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(sent, field.attname), field.name
    assert stored.metadata == {"event": "x", "n": [1, "二"]} and stored.created_at is not None
    assert (stored.tenant_id, stored.conversation_id, stored.sender_agent_id) == (conv.tenant_id, conv.pk, agent.pk)


def test_save_signal_receivers_of_messages_still_run():
    seen: list[int] = []

    def receiver(sender, instance, created, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(instance.pk)

    post_save.connect(receiver, sender=Message, dispatch_uid="test.messages.saved")
    try:
        sent = message_send(conversation=ConversationFactory(), sender_type=SenderType.VISITOR, body="hi").message
    finally:
        post_save.disconnect(dispatch_uid="test.messages.saved", sender=Message)
    assert seen == [sent.pk]


def test_same_client_message_id_in_two_conversations_is_two_rows():
    a, b = ConversationFactory(), ConversationFactory()
    message_send(conversation=a, sender_type=SenderType.VISITOR, body="x", client_msg_id="same")
    message_send(conversation=b, sender_type=SenderType.VISITOR, body="x", client_msg_id="same")
    assert Message.objects.filter(client_msg_id="same").count() == 2


def test_database_rejects_duplicate_sequence_and_client_id():
    conv = ConversationFactory()
    msg = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="x", client_msg_id="dup").message
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(tenant=conv.tenant, conversation=conv, seq=msg.seq, sender_type="visitor", body="y")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            tenant=conv.tenant, conversation=conv, seq=99, client_msg_id="dup", sender_type="visitor", body="y"
        )


def test_first_agent_response_time_recorded_once():
    conv = ConversationFactory()
    agent = AgentFactory(tenant=conv.tenant)
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="note", is_internal=True)
    conv.refresh_from_db()
    assert conv.first_response_at is None  # internal notes are not a response
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="hello")
    conv.refresh_from_db()
    first = conv.first_response_at
    assert first is not None
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="again")
    conv.refresh_from_db()
    assert conv.first_response_at == first


def test_an_agent_reply_marks_everything_before_it_read_but_a_note_does_not():
    conv = ConversationFactory()
    agent = AgentFactory(tenant=conv.tenant)
    for body in ("one", "two"):
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body=body)
    message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="note", is_internal=True)
    conv.refresh_from_db()
    assert conv.agent_read_seq == 0
    reply = message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="hi").message
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="three")
    conv.refresh_from_db()
    assert conv.agent_read_seq == reply.seq == 4 and conv.last_seq == 5


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"body": "   "}, "empty"),
        ({"body": "x" * 10_001}, "too_long"),
        ({"body": "x", "kind": "video"}, "bad_kind"),
        ({"body": "x", "kind": Kind.IMAGE}, "attachment_required"),
        ({"body": "x", "is_internal": True}, "bad_internal"),
    ],
)
def test_bad_input_is_refused_with_a_code_and_stores_nothing(kwargs, code):
    conv = ConversationFactory()
    with pytest.raises(InvalidInput) as err:
        message_send(conversation=conv, sender_type=SenderType.VISITOR, **kwargs)
    assert err.value.code == code
    assert not Message.objects.filter(conversation=conv).exists()
    conv.refresh_from_db()
    assert conv.last_seq == 0


def test_rich_text_is_sanitized_on_the_server():
    conv = ConversationFactory()
    body = '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">x</a><b>b</b></p>'
    msg = message_send(conversation=conv, sender_type=SenderType.AGENT, kind=Kind.RICH_TEXT, body=body).message
    assert "script" not in msg.body and "onclick" not in msg.body and "javascript" not in msg.body
    assert "<b>b</b>" in msg.body


def test_control_characters_are_stripped_from_text():
    conv = ConversationFactory()
    msg = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="a\x00b\x1bc\nd").message
    assert msg.body == "abc\nd"


def test_visitor_message_reopens_a_closed_conversation_but_agent_cannot_write():
    conv = ConversationFactory(status=Status.QUEUED)
    conversation_close(conversation=conv)
    with pytest.raises(Conflict):
        message_send(conversation=conv, sender_type=SenderType.BOT, body="late")
    message_send(conversation=conv, sender_type=SenderType.VISITOR, body="back again")
    conv.refresh_from_db()
    assert conv.status == Status.QUEUED and conv.closed_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_get_unique_gap_free_sequence_numbers():
    conv = ConversationFactory()
    senders, per_sender = 8, 15

    def send(worker: int) -> None:
        for i in range(per_sender):
            # Every other message is sent twice, as a client retry would.
            cid = f"w{worker}-{i}"
            message_send(conversation=conv, sender_type=SenderType.VISITOR, body=cid, client_msg_id=cid)
            if i % 2:
                message_send(conversation=conv, sender_type=SenderType.VISITOR, body=cid, client_msg_id=cid)

    assert not run_together(send, senders)
    seqs = list(Message.objects.filter(conversation=conv).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, senders * per_sender + 1))
    conv.refresh_from_db()
    assert conv.last_seq == senders * per_sender


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_client_id_store_one_row_and_agree():
    conv = ConversationFactory()
    tries = 6
    results: list[tuple[int, int, bool]] = []

    def send(_worker: int) -> None:
        result = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="once", client_msg_id="same")
        results.append((result.message.pk, result.message.seq, result.created))

    assert not run_together(send, tries)
    assert len({(pk, seq) for pk, seq, _created in results}) == 1
    assert sorted(created for _pk, _seq, created in results) == [False] * (tries - 1) + [True]
    conv.refresh_from_db()
    assert conv.last_seq == 1 and Message.objects.filter(conversation=conv).count() == 1


@pytest.mark.postgres
def test_a_message_to_an_open_conversation_is_two_statements_and_a_retry_changes_nothing():
    conv = ConversationFactory(status=Status.ASSIGNED, assignee=AgentFactory())
    first = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="a", client_msg_id="x1")
    conv.refresh_from_db()
    before = {f.attname: getattr(conv, f.attname) for f in conv._meta.concrete_fields}
    with CaptureQueriesContext(connection) as queries:
        again = message_send(conversation=conv, sender_type=SenderType.VISITOR, body="b", client_msg_id="x1")
    assert not again.created and again.message.pk == first.message.pk and again.message.body == "a"
    conv.refresh_from_db()
    assert {f.attname: getattr(conv, f.attname) for f in conv._meta.concrete_fields} == before
    agent = conv.assignee
    with CaptureQueriesContext(connection) as queries:
        reply = message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="c", client_msg_id="x2")
    assert reply.created and reply.message.seq == 2
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]  # the test's own transaction
    assert len(statements) == 2, statements  # lock; insert + update
    conv.refresh_from_db()
    assert (conv.last_seq, conv.agent_read_seq) == (2, 2) and conv.first_response_at is not None
