"""Handing a conversation from the bot to a human, and back."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kefu.models import Conversation, Message, SenderType, Status
from kefu.services.conversations import conversation_set_status
from kefu.services.messages import message_send, system_event

# Lazy: the note is written in the language active when the handoff happens.
REASONS = {
    "requested": gettext_lazy("The visitor asked for a human."),
    "unsure": gettext_lazy("The bot could not answer twice in a row."),
    "complaint": gettext_lazy("The visitor seems unhappy."),
    "failure": gettext_lazy("Every AI provider failed."),
    "media": gettext_lazy("The visitor sent something the bot cannot read (image, voice or file)."),
    "blocked": gettext_lazy("A business hook blocked a message; please review it."),
}


def handoff_summary(conversation: Conversation, *, limit: int = 6) -> str:
    """An extractive summary for the agent: the visitor's last questions, newest last."""
    rows = list(
        Message.objects.filter(conversation=conversation, sender_type=SenderType.VISITOR, is_internal=False)
        .order_by("-seq")
        .values_list("body", flat=True)[:limit]
    )
    lines = [f"• {body[:200]}" for body in reversed(rows) if body]
    return "\n".join(lines)


@transaction.atomic
def handoff_to_human(*, conversation: Conversation, reason: str, apology: str = "") -> Conversation:
    """Queue the conversation for agents, with a note telling them why and what was asked."""
    if conversation.status != Status.BOT:
        return conversation
    if apology:
        message_send(
            conversation=conversation, sender_type=SenderType.BOT, body=apology, metadata={"event": "handoff_apology"}
        )
    conv = conversation_set_status(conversation=conversation, status=Status.QUEUED)
    system_event(conversation=conv, event="handoff", text=_("Transferred to a human agent."), data={"reason": reason})
    summary = handoff_summary(conv)
    why = str(REASONS.get(reason, reason))
    message_send(
        conversation=conv,
        sender_type=SenderType.AGENT,
        is_internal=True,
        body=f"{_('Bot handoff')}: {why}\n{summary}".strip(),
        metadata={"event": "handoff_summary", "reason": reason},
    )
    return conv
