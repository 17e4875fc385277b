"""Outbound webhooks against a fake receiver on 127.0.0.1: signatures, the events and
their order per conversation, retries (and none on a 4xx), disabling with an e-mail,
the delivery log with "send again", and the SSRF guard."""

from __future__ import annotations

import time

import pytest
from django.core import mail

from kefu.models import DeliveryStatus, Role, SenderType, WebhookDelivery, WebhookSubscription
from kefu.services import webhooks as hooks
from kefu.services.conversations import conversation_close, conversation_open
from kefu.services.messages import message_send
from tests.factories import AgentFactory, TenantFactory, VisitorFactory
from tests.fakes.webhook_server import KefuWebhookReceiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.KEFU_OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.KEFU_WEBHOOK_RETRY_BASE_SECONDS = 0.0
    settings.KEFU_WEBHOOK_RETRY_MAX_SECONDS = 0.0
    hooks._cache.clear()


def subscribe(tenant, receiver, **kwargs):
    sub, secret = hooks.webhook_create(tenant=tenant, url=receiver.url + "/hook", **kwargs)
    receiver.secret = secret
    return sub


def drain(rounds: int = 20) -> None:
    """Without a broker, retries wait for the sweep: run it until nothing is due."""
    for _ in range(rounds):
        if not hooks.webhook_sweep():
            return


def test_deliveries_are_signed_and_carry_the_conversation_in_order():
    tenant = TenantFactory()
    with KefuWebhookReceiver() as receiver:
        sub = subscribe(tenant, receiver)
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        for i in range(5):
            message_send(conversation=conv, sender_type=SenderType.VISITOR, body=f"m{i}", client_msg_id=f"c{i}")
        conversation_close(conversation=conv)
        drain()
    events = [body["event"] for body in receiver.accepted]
    assert receiver.bad_signatures == 0
    assert events[0] in ("contact.created", "conversation.created")
    bodies = [b["data"]["message"]["body"] for b in receiver.accepted if b["event"] == "message.created"]
    assert bodies[:5] == [f"m{i}" for i in range(5)]
    assert events.index("conversation.closed") > max(
        i for i, e in enumerate(events) if e == "message.created" and "m4" in str(receiver.accepted[i])
    )
    assert all(d.status == DeliveryStatus.SUCCEEDED for d in WebhookDelivery.objects.filter(subscription=sub))
    ids = [b["delivery_id"] for b in receiver.accepted]
    assert ids == sorted(ids)


def test_a_forged_or_old_signature_is_refused_by_the_documented_check():
    with KefuWebhookReceiver(secret="whsec_x") as receiver:
        from tests.fakes.http import Request

        body = b'{"event":"ping"}'
        now = int(time.time())
        good = hooks.webhook_sign(secret="whsec_x", timestamp=now, body=body)
        headers = {"x-kefu-timestamp": str(now), "x-kefu-signature": good}
        assert receiver.verify(Request("POST", "/", headers, body))
        assert not receiver.verify(Request("POST", "/", {**headers, "x-kefu-signature": good[:-1] + "0"}, body))
        old = now - 600
        stale = {
            "x-kefu-timestamp": str(old),
            "x-kefu-signature": hooks.webhook_sign(secret="whsec_x", timestamp=old, body=body),
        }
        assert not receiver.verify(Request("POST", "/", stale, body))
        assert hooks.webhook_verify(secret="whsec_x", timestamp=str(now), body=body, signature=good)
        assert not hooks.webhook_verify(
            secret="whsec_x", timestamp=str(old), body=body, signature=stale["x-kefu-signature"]
        )


def test_internal_notes_go_only_to_subscribers_that_ask():
    tenant = TenantFactory()
    agent = AgentFactory(tenant=tenant)
    with KefuWebhookReceiver() as plain, KefuWebhookReceiver() as notes:
        subscribe(tenant, plain, events=["message.created"])
        subscribe(tenant, notes, events=["message.created"], include_internal=True)
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="secret note", is_internal=True)
        message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body="hello")
        drain()
    assert [b["data"]["message"]["body"] for b in plain.accepted] == ["hello"]
    assert [b["data"]["message"]["body"] for b in notes.accepted] == ["secret note", "hello"]
    assert notes.accepted[1]["data"]["message"]["sender_type"] == "agent"


def test_server_errors_are_retried_and_later_deliveries_wait_their_turn():
    tenant = TenantFactory()
    with KefuWebhookReceiver(script=[500, 503, 429]) as receiver:
        sub = subscribe(tenant, receiver, events=["message.created"])
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="first")
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="second")
        first = WebhookDelivery.objects.filter(subscription=sub).order_by("id").first()
        # While the first is retrying, the second has not been sent.
        assert receiver.accepted == []
        drain()
    assert [b["data"]["message"]["body"] for b in receiver.accepted] == ["first", "second"]
    first.refresh_from_db()
    assert first.status == DeliveryStatus.SUCCEEDED and first.attempts == 4
    assert [a["status"] for a in first.attempt_log] == [500, 503, 429, 200]


def test_a_client_error_is_not_retried_but_408_is():
    tenant = TenantFactory()
    with KefuWebhookReceiver(script=[400]) as refusing, KefuWebhookReceiver(script=[408]) as slow:
        a = subscribe(tenant, refusing, events=["message.created"])
        b = subscribe(tenant, slow, events=["message.created"])
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="x")
        drain()
    refused = WebhookDelivery.objects.get(subscription=a)
    assert refused.status == DeliveryStatus.FAILED and refused.attempts == 1 and refused.response_status == 400
    retried = WebhookDelivery.objects.get(subscription=b)
    assert retried.status == DeliveryStatus.SUCCEEDED and retried.attempts == 2


def test_a_failing_subscription_is_disabled_and_the_tenant_told(settings):
    settings.KEFU_WEBHOOK_DISABLE_AFTER = 3
    settings.KEFU_WEBHOOK_MAX_ATTEMPTS = 10
    tenant = TenantFactory(notify_email="ops@shop.test")
    AgentFactory(tenant=tenant, role=Role.OWNER, user__email="owner@shop.test")
    with KefuWebhookReceiver(script=[500] * 20) as receiver:
        sub = subscribe(tenant, receiver, events=["message.created"])
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="x")
        drain()
        sub.refresh_from_db()
        assert not sub.is_active and sub.consecutive_failures == 3 and "3" in sub.disabled_reason
        assert len(receiver.requests) == 3
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="after")
        drain()
        assert len(receiver.requests) == 3  # nothing more is recorded for a disabled webhook
    assert len(mail.outbox) == 1 and set(mail.outbox[0].to) == {"ops@shop.test", "owner@shop.test"}
    assert receiver.url in mail.outbox[0].body


def test_private_addresses_are_refused_unless_allow_listed(settings):
    from kefu.errors import InvalidInput

    settings.KEFU_OUTBOUND_ALLOWLIST = []
    with pytest.raises(InvalidInput):
        hooks.webhook_create(tenant=TenantFactory(), url="http://127.0.0.1:9/hook")
    with pytest.raises(InvalidInput):
        hooks.webhook_create(tenant=TenantFactory(), url="http://169.254.169.254/latest/meta-data")


def test_an_address_that_became_private_is_refused_at_send_time(settings):
    """The check at subscription time is a courtesy; the guarded client decides at connect."""
    tenant = TenantFactory()
    with KefuWebhookReceiver() as receiver:
        sub = subscribe(tenant, receiver, events=["message.created"])
        settings.KEFU_OUTBOUND_ALLOWLIST = []
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="x")
    delivery = WebhookDelivery.objects.get(subscription=sub)
    assert receiver.requests == [] and delivery.attempts >= 1 and delivery.last_error


def test_console_delivery_log_and_send_again(client):
    tenant = TenantFactory()
    owner = AgentFactory(tenant=tenant, role=Role.OWNER)
    with KefuWebhookReceiver(script=[400]) as receiver:
        client.force_login(owner.user)
        page = client.post(
            "/console/settings/webhooks/",
            {"action": "create", "url": receiver.url + "/hook", "events": ["message.created"]},
        )
        assert page.status_code == 200
        sub = WebhookSubscription.objects.get(tenant=tenant)
        receiver.secret = sub.secret
        assert sub.secret in page.content.decode()  # shown once, at creation
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="lost once")
        failed = WebhookDelivery.objects.get(subscription=sub)
        assert failed.status == DeliveryStatus.FAILED
        log = client.get(f"/console/settings/webhooks/?webhook={sub.pk}").content.decode()
        assert "message.created" in log and "400" in log and sub.secret not in log
        client.post("/console/settings/webhooks/", {"action": "redeliver", "delivery_id": failed.pk})
        drain()
    assert [b["data"]["message"]["body"] for b in receiver.accepted] == ["lost once"]
    assert WebhookDelivery.objects.filter(subscription=sub, status=DeliveryStatus.SUCCEEDED).count() == 1


def test_admin_send_again_action(admin_client):
    tenant = TenantFactory()
    with KefuWebhookReceiver(script=[404]) as receiver:
        sub = subscribe(tenant, receiver, events=["message.created"])
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="again")
        failed = WebhookDelivery.objects.get(subscription=sub)
        response = admin_client.post(
            "/admin/kefu/webhookdelivery/", {"action": "send_again", "_selected_action": [failed.pk]}, follow=True
        )
        assert response.status_code == 200
        drain()
    assert [b["data"]["message"]["body"] for b in receiver.accepted] == ["again"]


@pytest.mark.redis
@pytest.mark.slow
def test_a_celery_worker_retries_with_backoff(settings):
    """Through the broker: the worker's task schedules its own retries (countdown)."""
    from tests.worker import running_worker

    settings.KEFU_TASKS_MODE = "celery"
    tenant = TenantFactory()
    with (
        KefuWebhookReceiver(script=[500, 502]) as receiver,
        running_worker(
            KEFU_OUTBOUND_ALLOWLIST="127.0.0.1",
            KEFU_WEBHOOK_RETRY_BASE_SECONDS="0.2",
            KEFU_WEBHOOK_RETRY_MAX_SECONDS="1",
        ),
    ):
        sub = subscribe(tenant, receiver, events=["message.created"])
        conv, _ = conversation_open(tenant=tenant, visitor=VisitorFactory(tenant=tenant))
        message_send(conversation=conv, sender_type=SenderType.VISITOR, body="via celery")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not receiver.accepted:
            time.sleep(0.1)
    delivery = WebhookDelivery.objects.get(subscription=sub)
    assert [b["data"]["message"]["body"] for b in receiver.accepted] == ["via celery"]
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
