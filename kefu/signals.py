"""Domain events of the core, sent after commit; bots and analytics subscribe to them.

The core never imports bots or analytics. They register here from AppConfig.ready().
"""

from __future__ import annotations

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

# Functions (tenant, channel) -> bool asked whether a new conversation starts with a bot.
BotSelector = Callable[[Any, str], bool]
bot_selectors: list[BotSelector] = []


def register_bot_selector(selector: BotSelector) -> None:
    if selector not in bot_selectors:
        bot_selectors.append(selector)


def bot_enabled_for(tenant: Any, channel: str) -> bool:
    return any(selector(tenant, channel) for selector in bot_selectors)


def send_on_commit(signal: Signal, **kwargs: Any) -> None:
    """Nothing hears about a row that may still roll back."""
    sender = kwargs.pop("sender", None)
    transaction.on_commit(lambda: signal.send_robust(sender=sender, **kwargs))
