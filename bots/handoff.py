"""Handing a conversation from the bot to a human, and back."""

from __future__ import annotations

from django.db import transaction

from kefu import system_texts
from kefu.models import Conversation, Message, SenderType, Status
from kefu.services.conversations import conversation_nobody_online, conversation_set_status
from kefu.services.messages import message_send, system_event
from kefu.services.presence import inbox_is_online


def handoff_summary(conversation: Conversation, *, limit: int = 6) -> str:
    """An extractive summary for the agent: the visitor's last questions, newest last."""
    rows = list(
        Message.objects.filter(conversation=conversation, sender_type=SenderType.VISITOR, is_internal=False)
        .order_by("-seq")
        .values_list("body", flat=True)[:limit]
    )
    lines = [f"• {body[:200]}" for body in reversed(rows) if body]
    return "\n".join(lines)


# Handoffs after which the bot can keep answering while nobody is online.
BOT_CAN_GO_ON = frozenset({"requested", "unsure", "complaint"})


@transaction.atomic
def handoff_to_human(*, conversation: Conversation, reason: str, apology: str = "") -> Conversation:
    """Queue the conversation for agents, with a note telling them why and what was asked.

    `reason` is one of requested, unsure, complaint, failure, media, blocked (system
    texts "reason_*").
    `apology` is a system text code ("handoff_apology_requested"...) the bot says first.
    With nobody able to answer (outside business hours, no agent online) a handoff the
    bot can live without (asked for, unsure, unhappy) queues nothing: the visitor is told
    so and stays with the bot, which keeps answering. Where the bot cannot go on (every
    provider failed, a message it cannot read, a blocked message) the conversation is
    queued for the team's return, as before.
    """
    if conversation.status != Status.BOT:
        return conversation
    if reason in BOT_CAN_GO_ON and not inbox_is_online(conversation.inbox):
        return conversation_nobody_online(conversation=conversation)
    if apology:
        # A system text code; plain text (in the active language) is accepted as is.
        known = apology in system_texts.TEXTS
        message_send(
            conversation=conversation,
            sender_type=SenderType.BOT,
            body=system_texts.render(apology) if known else apology,
            metadata=system_texts.metadata(apology, event="handoff_apology") if known else {"event": "handoff_apology"},
        )
    conv = conversation_set_status(conversation=conversation, status=Status.QUEUED)
    system_event(conversation=conv, event="handoff", data={"reason": reason})
    params = {"reason": {"code": f"reason_{reason}"}, "summary": handoff_summary(conv)}
    message_send(
        conversation=conv,
        sender_type=SenderType.AGENT,
        is_internal=True,
        body=system_texts.render("handoff_note", params).strip(),
        metadata=system_texts.metadata("handoff_note", params, event="handoff_summary", reason=reason),
    )
    return conv
