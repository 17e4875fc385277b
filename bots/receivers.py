"""Subscriptions to the core's domain events (connected in BotsConfig.ready)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from bots.context import context_append
from bots.models import Bot, BotTurn, BusinessHook
from kefu import signals
from kefu.models import Kind, Message, SenderType, Status

logger = logging.getLogger(__name__)

# Images, voice and files too: the bot reads them or answers at once that it cannot (bots.media).
ANSWERABLE = {Kind.TEXT, Kind.RICH_TEXT, Kind.IMAGE, Kind.AUDIO, Kind.FILE}


def bot_selector(tenant: Any, inbox: Any) -> bool:
    from bots.pipeline import tenant_bots

    return inbox.channel in tenant_bots(tenant.pk).by_channel


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
    from bots.pipeline import bot_for_conversation
    from bots.tasks import turn_run_task

    bot = bot_for_conversation(conversation)
    if bot is None:
        return
    turn = BotTurn(tenant_id=conversation.tenant_id, conversation=conversation, bot=bot, trigger=message)
    try:
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint, so a duplicate leaves the caller's transaction usable
                turn.save(force_insert=True)
        else:
            # After commit, in autocommit: the insert is atomic alone; a transaction
            # around it cost two more round trips (BEGIN, COMMIT).
            turn.save(force_insert=True)
    except IntegrityError:
        return  # this message already has its turn
    turn_run_task.delay(turn.pk)


def on_status_changed(sender: Any, conversation: Any, old_status: str, new_status: str, **kwargs: Any) -> None:
    """A closed conversation: the tenant's on-close hooks are told (in a task, after commit)."""
    if new_status != Status.CLOSED:
        return
    from bots.hooks.points import _hooks
    from bots.hooks.spec import HookPoint
    from bots.tasks import hooks_on_close_task

    if _hooks(conversation.tenant_id, HookPoint.ON_CLOSE):
        hooks_on_close_task.delay(conversation.pk)


def on_bot_config_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Bots, hooks, knowledge bases or their links changed: the tenant's cached copy is stale."""
    from bots.pipeline import bots_changed

    if str(kwargs.get("action", "post_")).startswith("pre_"):
        return  # m2m_changed: the post_ action follows
    tenant_id = getattr(instance, "tenant_id", None)
    if tenant_id is not None:
        bots_changed(tenant_id)


def connect() -> None:
    from bots.knowledge.models import KnowledgeBase

    signals.register_bot_selector(bot_selector)
    signals.message_stored.connect(on_message_stored, dispatch_uid="bots.on_message_stored")
    signals.conversation_status_changed.connect(on_status_changed, dispatch_uid="bots.on_status_changed")
    from bots.hooks.points import assignment_advisor

    signals.register_assignment_advisor(assignment_advisor)
    for model in (Bot, BusinessHook, KnowledgeBase):
        for name, signal in (("saved", post_save), ("deleted", post_delete)):
            signal.connect(on_bot_config_saved, sender=model, dispatch_uid=f"bots.config.{name}.{model.__name__}")
    m2m_changed.connect(on_bot_config_saved, sender=Bot.knowledge_bases.through, dispatch_uid="bots.config.links")
