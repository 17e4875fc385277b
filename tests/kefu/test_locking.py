"""Routing and senders lock rows in compatible modes: no deadlock under concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from kefu.models import Presence, SenderType, Status
from kefu.services.messages import message_send
from kefu.services.routing import routing_assign_queued
from tests.factories import AgentFactory, ConversationFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_routing_and_senders_run_together_without_deadlock():
    tenant = TenantFactory()
    AgentFactory(tenant=tenant, presence=Presence.ONLINE, capacity=50)
    conversations = [ConversationFactory(tenant=tenant, status=Status.QUEUED) for _ in range(12)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(5)

    def route() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                routing_assign_queued(tenant_id=tenant.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    def send(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(15):
                conv = conversations[(worker + i) % len(conversations)]
                message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"w{worker} m{i}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=route)] + [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
