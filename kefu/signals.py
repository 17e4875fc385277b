"""Domain events of the core, sent after commit; bots and analytics subscribe to them.

The core never imports bots or analytics. They register here from AppConfig.ready().
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.dispatch import Signal

# sender=Message class, message=Message
message_stored = Signal()
# sender=Conversation class, conversation=Conversation
conversation_opened = Signal()
# sender=Conversation class, conversation=Conversation, old_status=str, new_status=str
conversation_status_changed = Signal()

# Sent inside the erasure's transaction (not after commit), so a receiver that keeps its
# own copy of a contact's data erases it atomically with the core's.
# sender=Visitor class, visitor=Visitor, conversation_ids=list[int]
contact_erasing = Signal()

# Functions (tenant, inbox) -> bool asked whether a new conversation of the inbox starts
# with a bot.
BotSelector = Callable[[Any, Any], bool]
bot_selectors: list[BotSelector] = []


def register_bot_selector(selector: BotSelector) -> None:
    if selector not in bot_selectors:
        bot_selectors.append(selector)


def bot_enabled_for(tenant: Any, inbox: Any) -> bool:
    return any(selector(tenant, inbox) for selector in bot_selectors)


def send_on_commit(signal: Signal, **kwargs: Any) -> None:
    """Nothing hears about a row that may still roll back."""
    sender = kwargs.pop("sender", None)
    transaction.on_commit(lambda: signal.send_robust(sender=sender, **kwargs))


# Functions (tenant_id, queued conversations) -> {conversation_id: advice} asked before a
# routing pass assigns anyone (bots' before-assignment hooks). Advice: {"agent_id": int}
# or {"team_id": int} to choose, {"hold": True} to leave the conversation in the queue.
AssignmentAdvisor = Callable[[int, list[Any]], dict[int, dict[str, Any]]]
assignment_advisors: list[AssignmentAdvisor] = []


def register_assignment_advisor(advisor: AssignmentAdvisor) -> None:
    if advisor not in assignment_advisors:
        assignment_advisors.append(advisor)


def assignment_advice(tenant_id: int, conversations: list[Any]) -> dict[int, dict[str, Any]]:
    """What the advisors say; an advisor that fails says nothing (routing goes on)."""
    advice: dict[int, dict[str, Any]] = {}
    for advisor in assignment_advisors:
        try:
            for conversation_id, choice in advisor(tenant_id, conversations).items():
                advice.setdefault(conversation_id, choice)
        except Exception:
            logging.getLogger(__name__).exception("assignment advisor %r failed", advisor)
    return advice
