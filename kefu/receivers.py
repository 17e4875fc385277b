"""Signal handlers of the live chat, connected from KefuConfig.ready().

Revocation: an agent deactivated or removed, a user disabled, a tenant or a widget
inbox switched off or a visitor blocked gets its open sockets closed at once, after
commit. Routing reacts
to conversations entering the queue and to capacity being freed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from kefu import events, signals
from kefu.models import Agent, Conversation, Inbox, Status, Tenant, Visitor
from kefu.payloads import conversation_payload
from kefu.services.inboxes import ORIGINS_CACHE_KEY

CLOSE_FORBIDDEN = 4003
CLOSE_REVOKED = 4010


def _revoke_on_commit(groups: list[str], code: int = CLOSE_REVOKED) -> None:
    events.broadcast_on_commit(groups, {"type": "kefu.revoke", "code": code})


def _remember_active(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Keep the stored value so post_save can tell a change from a plain save."""
    field = "is_blocked" if sender is Visitor else "is_active"
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or (update_fields is not None and field not in update_fields):
        instance._kefu_was = None if instance.pk is None else getattr(instance, field)
        return
    instance._kefu_was = sender.objects.filter(pk=instance.pk).values_list(field, flat=True).first()


def _forget_agents_online(tenant_id: int) -> None:
    from kefu.services.presence import agents_online_forget

    transaction.on_commit(lambda: agents_online_forget(tenant_id))


def agent_saved(sender: Any, instance: Agent, created: bool, **kwargs: Any) -> None:
    _forget_agents_online(instance.tenant_id)
    if not instance.is_active and getattr(instance, "_kefu_was", None) is not False:
        _revoke_on_commit([events.agent_group(instance.pk)])


def agent_deleted(sender: Any, instance: Agent, **kwargs: Any) -> None:
    _forget_agents_online(instance.tenant_id)
    _revoke_on_commit([events.agent_group(instance.pk)])


def user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if created or instance.is_active or getattr(instance, "_kefu_was", None) is False:
        return
    agent_id = Agent.objects.filter(user_id=instance.pk).values_list("pk", flat=True).first()
    if agent_id is not None:
        _revoke_on_commit([events.agent_group(agent_id)])


def tenant_saved(sender: Any, instance: Tenant, created: bool, **kwargs: Any) -> None:
    # A switched-off tenant's widget origins stop passing the CORS preflight at once.
    transaction.on_commit(lambda: cache.delete(ORIGINS_CACHE_KEY))
    if not instance.is_active and getattr(instance, "_kefu_was", None) is not False:
        _revoke_on_commit([events.inbox_group(instance.pk), events.tenant_visitors_group(instance.pk)])


def inbox_saved(sender: Any, instance: Inbox, created: bool, **kwargs: Any) -> None:
    transaction.on_commit(lambda: cache.delete(ORIGINS_CACHE_KEY))
    if not created and not instance.is_active and getattr(instance, "_kefu_was", None) is not False:
        events.broadcast_on_commit(
            [events.tenant_visitors_group(instance.tenant_id)],
            {"type": "kefu.revoke", "code": CLOSE_REVOKED, "inbox_id": instance.pk},
        )


def visitor_saved(sender: Any, instance: Visitor, created: bool, **kwargs: Any) -> None:
    if instance.is_blocked and getattr(instance, "_kefu_was", None) is not True:
        _revoke_on_commit([events.visitor_group(instance.pk)], code=CLOSE_FORBIDDEN)


def conversation_opened(sender: Any, conversation: Conversation, **kwargs: Any) -> None:
    from kefu.tasks import route_tenant

    # Other tabs of the same visitor learn the new conversation and join its group.
    events.broadcast(
        [events.visitor_group(conversation.visitor_id)],
        {
            "type": "kefu.visitor.conversation",
            "conversation": conversation_payload(conversation),
        },
    )
    if conversation.status == Status.QUEUED:
        route_tenant.delay_on_commit(conversation.tenant_id)


def conversation_status_changed(
    sender: Any, conversation: Conversation, old_status: str, new_status: str, **kwargs: Any
) -> None:
    from kefu.services.routing import routing_in_progress
    from kefu.tasks import route_tenant

    if routing_in_progress():
        return
    if new_status == Status.QUEUED or old_status in (Status.ASSIGNED, Status.QUEUED):
        # Entered the queue, freed an agent slot, or moved the queue along.
        transaction.on_commit(lambda: route_tenant.delay(conversation.tenant_id))


def connect() -> None:
    user_model = get_user_model()
    for model in (Agent, Tenant, Inbox, Visitor, user_model):
        pre_save.connect(_remember_active, sender=model, dispatch_uid=f"kefu.live.remember.{model._meta.label}")
    post_save.connect(agent_saved, sender=Agent, dispatch_uid="kefu.live.agent_saved")
    post_delete.connect(agent_deleted, sender=Agent, dispatch_uid="kefu.live.agent_deleted")
    post_save.connect(user_saved, sender=user_model, dispatch_uid="kefu.live.user_saved")
    post_save.connect(tenant_saved, sender=Tenant, dispatch_uid="kefu.live.tenant_saved")
    post_save.connect(visitor_saved, sender=Visitor, dispatch_uid="kefu.live.visitor_saved")
    post_save.connect(inbox_saved, sender=Inbox, dispatch_uid="kefu.live.inbox_saved")
    signals.conversation_opened.connect(conversation_opened, dispatch_uid="kefu.live.conversation_opened")
    signals.conversation_status_changed.connect(
        conversation_status_changed, dispatch_uid="kefu.live.conversation_status_changed"
    )
