"""Group commit of chat messages: the sends of every socket of a process that arrive
while a batch is being stored are stored together.

Each message had a transaction of its own (lock, insert, commit), a database thread hop
and a Redis round trip for its rate limits; under load the database threads queued on
that. Now one batch is in flight per process: a lone message on a quiet server goes at
once, and under load the batches grow, so the cost per message falls as the rate rises.
An ack still waits for the commit of its message.
"""

from __future__ import annotations

from dataclasses import dataclass

from kefu import ratelimit
from kefu.batching import GroupCommit
from kefu.consumers.base import db_call
from kefu.errors import NotFound, RateLimited
from kefu.models import Conversation
from kefu.services.messages import SendRequest, SendResult, message_send_many

Limits = tuple[tuple[str, object, int], ...]


@dataclass(frozen=True)
class _Write:
    request: SendRequest
    limits: Limits  # (scope, key, per minute) counters this message counts against


def _store(writes: list[_Write]) -> list[SendResult | Exception]:
    allowed = ratelimit.hit_each([w.limits for w in writes])
    results: list[SendResult | Exception] = [RateLimited() for _w in writes]
    todo = [i for i, ok in enumerate(allowed) if ok]
    for i, result in zip(todo, message_send_many([writes[i].request for i in todo]), strict=True):
        results[i] = NotFound() if isinstance(result, Conversation.DoesNotExist) else result
    return results


_batches: GroupCommit[_Write, SendResult | Exception] = GroupCommit(db_call(_store))


async def store_message(request: SendRequest, limits: Limits = ()) -> SendResult:
    """Store one message with whatever else is waiting; raises what message_send would
    (a missing conversation as NotFound), or RateLimited."""
    result = await _batches.submit(_Write(request, limits))
    if isinstance(result, Exception):
        raise result
    return result
