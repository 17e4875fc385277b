"""Contacts (visitors as a first-class resource): create, update, merge, erase, export.

Merge keeps one contact with every conversation of both; the identity-verified external
id wins. Erase (PIPL/GDPR) removes the person: their profile, the content of every
message of their conversations, and their attachment files on disk, leaving counts and
timestamps for reports and an audit record that names no one.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu import signals
from kefu.errors import Conflict, InvalidInput
from kefu.models import Attachment, Conversation, Message, Status, Tenant, Visitor
from kefu.payloads import api_message_payload, contact_payload
from kefu.services.audit import audit_record
from kefu.services.text import clean_plain
from kefu.services.visitors import clean_attributes, visitor_update
from kefu.services.webhooks import webhook_emit


def _contact_data(visitor: Visitor) -> dict[str, Any]:
    return contact_payload(visitor)


def contact_create(
    *,
    tenant: Tenant,
    name: str = "",
    email: str = "",
    phone: str = "",
    external_id: str | None = None,
    attributes: dict[str, Any] | None = None,
    actor: Any = None,
) -> Visitor:
    """A contact made by the tenant's own system (API key): its external id is vouched for."""
    with transaction.atomic():
        if external_id:
            external_id = clean_plain(str(external_id), max_chars=128)
            if Visitor.objects.filter(tenant=tenant, external_id=external_id).exists():
                raise Conflict(_("A contact with this external id exists."), code="duplicate_external_id")
        visitor = Visitor(
            tenant=tenant,
            anon_id="api-" + secrets.token_urlsafe(16),
            external_id=external_id or None,
            identity_verified=bool(external_id),
            attributes=clean_attributes(attributes or {}),
        )
        visitor.save()
        visitor = visitor_update(visitor=visitor, name=name, email=email, phone=phone, emit=False)
        webhook_emit(
            tenant_id=tenant.pk,
            event="contact.created",
            data={"contact": _contact_data(visitor)},
            lane=f"v{visitor.pk}",
        )
    return visitor


@transaction.atomic
def contact_merge(*, target: Visitor, source: Visitor, actor: Any = None) -> Visitor:
    """`source` joins `target`; the survivor is the identity-verified one if only one is.

    Two open conversations in one inbox cannot both stay open (one per contact and inbox):
    the source's is closed. The source row remains as a forwarding record
    (merged_into), so its browser keeps reaching the survivor.
    """
    if target.pk == source.pk or target.tenant_id != source.tenant_id:
        raise InvalidInput(_("Choose two different contacts."), code="bad_merge")
    locked = {v.pk: v for v in Visitor.objects.select_for_update().filter(pk__in=[target.pk, source.pk]).order_by("pk")}
    target, source = locked[target.pk], locked[source.pk]
    if source.merged_into_id or target.merged_into_id:
        raise Conflict(_("That contact was already merged."), code="already_merged")
    if source.identity_verified and target.identity_verified and source.external_id != target.external_id:
        raise Conflict(_("Both contacts have a different verified identity."), code="identity_conflict")
    if source.identity_verified and not target.identity_verified:
        target, source = source, target  # the verified identity wins
    from kefu.services.conversations import conversation_close

    # One open conversation per contact and inbox: where both have one, the source's closes.
    open_inboxes = set(
        Conversation.objects.filter(visitor=target).exclude(status=Status.CLOSED).values_list("inbox_id", flat=True)
    )
    for conv in Conversation.objects.filter(visitor=source).exclude(status=Status.CLOSED):
        if conv.inbox_id in open_inboxes:
            conversation_close(conversation=conv, by="merge")
    moved = Conversation.objects.filter(visitor=source).update(visitor=target)
    for name in ("name", "email", "phone"):
        if not getattr(target, name) and getattr(source, name):
            setattr(target, name, getattr(source, name))
    target.attributes = {**(source.attributes or {}), **(target.attributes or {})}
    if not target.external_id and source.external_id:
        external_id, verified = source.external_id, source.identity_verified
        source.external_id = None
        source.save(update_fields=["external_id"])
        target.external_id, target.identity_verified = external_id, verified
    source.merged_into = target
    source.external_id = None
    source.save(update_fields=["merged_into", "external_id"])
    target.save()
    audit_record(
        tenant=target.tenant,
        actor=actor,
        action="contact.merge",
        target=target,
        data={"merged": source.pk, "conversations": moved},
    )
    webhook_emit(
        tenant_id=target.tenant_id,
        event="contact.merged",
        data={"contact": _contact_data(target), "merged_contact_id": source.pk, "conversations_moved": moved},
        lane=f"v{target.pk}",
    )
    return target


@transaction.atomic
def contact_erase(*, contact: Visitor, actor: Any = None, ip: str | None = None) -> dict[str, int]:
    """Erase the person; returns what was removed (also in the audit record)."""
    visitor = Visitor.objects.select_for_update().get(pk=contact.pk)
    tenant_id = visitor.tenant_id
    conversation_ids = list(Conversation.objects.filter(visitor=visitor).values_list("pk", flat=True))
    # Anyone merged into this contact is the same person.
    aliases = list(Visitor.objects.filter(merged_into=visitor).values_list("pk", flat=True))
    signals.contact_erasing.send(sender=Visitor, visitor=visitor, conversation_ids=conversation_ids)
    attachments = list(Attachment.objects.filter(conversation_id__in=conversation_ids))
    paths = [a.file.name for a in attachments if a.file and a.file.name]
    storage = attachments[0].file.storage if attachments else None
    messages = Message.objects.filter(conversation_id__in=conversation_ids).update(
        body="", metadata={}, attachment=None, client_msg_id=None
    )
    Attachment.objects.filter(pk__in=[a.pk for a in attachments]).delete()
    Conversation.objects.filter(pk__in=conversation_ids).update(attributes={}, rating_comment="")
    for row in Visitor.objects.filter(pk__in=[visitor.pk, *aliases]):
        row.name = row.email = row.phone = row.user_agent = row.current_url = row.referrer = ""
        row.attributes, row.ip, row.external_id, row.identity_verified = {}, None, None, False
        row.anon_id = "erased-" + secrets.token_urlsafe(16)
        row.is_blocked = True  # an erased visitor's old token must not write new data
        row.save()
    result = {"conversations": len(conversation_ids), "messages": messages, "files": len(paths)}
    entry = audit_record(tenant=visitor.tenant, actor=actor, action="contact.erase", target=visitor, data=result, ip=ip)
    result["audit_id"] = entry.pk
    webhook_emit(
        tenant_id=tenant_id, event="contact.erased", data={"contact_id": visitor.pk, **result}, lane=f"v{visitor.pk}"
    )

    def remove_files() -> None:
        # Files go after commit: a rollback must not leave rows pointing at nothing.
        for path in paths:
            if path and storage is not None and not Attachment.objects.filter(file=path).exists():
                storage.delete(path)

    transaction.on_commit(remove_files)
    return result


def contact_export(*, contact: Visitor) -> dict[str, Any]:
    """One contact's data as JSON: profile, conversations and the messages they could see."""

    conversations = []
    for conv in Conversation.objects.filter(visitor=contact).order_by("created_at"):
        messages = (
            Message.objects.filter(conversation=conv, is_internal=False)
            .select_related("attachment", "sender_agent")
            .order_by("seq")
        )
        conversations.append(
            {
                "id": conv.pk,
                "channel": conv.channel,
                "status": conv.status,
                "created_at": conv.created_at.isoformat(),
                "closed_at": conv.closed_at.isoformat() if conv.closed_at else None,
                "rating": conv.rating,
                "rating_comment": conv.rating_comment,
                "messages": [api_message_payload(m) for m in messages],
            }
        )
    return {
        "exported_at": timezone.now().isoformat(),
        "contact": contact_payload(contact),
        "conversations": conversations,
    }
