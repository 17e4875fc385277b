"""Subscriptions to the core's domain events (connected in BotsConfig.ready)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from bots.context import context_append
from bots.models import Bot, BotTurn
from kefu import signals
from kefu.models import Kind, Message, SenderType, Status

logger = logging.getLogger(__name__)

ANSWERABLE = {Kind.TEXT, Kind.RICH_TEXT}


def bot_selector(tenant: Any, channel: str) -> bool:
    return Bot.objects.filter(tenant=tenant, channel=channel, enabled=True).exists()


SUMMARY_TRIGGERS = {"transferred", "closed"}


def on_message_stored(sender: Any, message: Message, **kwargs: Any) -> None:
    if message.kind == Kind.EVENT and (message.metadata or {}).get("event") in SUMMARY_TRIGGERS:
        from bots.tasks import conversation_summarize_task

        conversation_summarize_task.delay(message.conversation_id, message.metadata["event"])
        return
    conversation = message.conversation
    if conversation.status != Status.BOT:
        # Agents' conversations skip the cache write (two Redis round trips per message);
        # if a bot takes over later, the context rebuilds from the database once.
        return
    context_append(message)
    if message.sender_type != SenderType.VISITOR or message.kind not in ANSWERABLE or message.is_internal:
        return
    bot = Bot.objects.filter(tenant_id=conversation.tenant_id, channel=conversation.channel, enabled=True).first()
    if bot is None:
        return
    from bots.tasks import turn_run_task

    try:
        with transaction.atomic():
            turn = BotTurn.objects.create(
                tenant_id=conversation.tenant_id, conversation=conversation, bot=bot, trigger=message
            )
    except IntegrityError:
        return  # this message already has its turn
    turn_run_task.delay(turn.pk)


def connect() -> None:
    signals.register_bot_selector(bot_selector)
    signals.message_stored.connect(on_message_stored, dispatch_uid="bots.on_message_stored")
