"""Writes behind the AI console pages: each wraps one domain write and leaves an audit record.

The knowledge services stay free of who-did-it concerns; these functions add the
admin check and the audit trail in the same transaction. Secret values never reach
the audit data, only the names of the fields that changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from bots.knowledge import services as kb_services
from bots.knowledge.models import Document, FaqEntry, KnowledgeBase
from bots.models import AlertChannel, Bot, BusinessHook
from kefu.errors import Conflict, Forbidden, InvalidInput
from kefu.models import Agent
from kefu.services.audit import audit_record


def require_admin(actor: Agent) -> None:
    if not actor.is_admin:
        raise Forbidden()


def _audit(actor: Agent, action: str, target: models.Model, ip: str | None, **data: Any) -> None:
    audit_record(tenant=actor.tenant, actor=actor.user, action=action, target=target, data=data, ip=ip)


def _public_fields(changed: Iterable[str]) -> list[str]:
    """Changed field names for the audit trail; secrets are named, never valued."""
    return sorted(set(changed))


def _first_message(exc: ValidationError) -> str:
    return "; ".join(str(m) for m in exc.messages) or _("The request is not valid.")


# --- Knowledge bases ----------------------------------------------------------------------


@transaction.atomic
def knowledge_base_add(*, actor: Agent, name: str, description: str = "", ip: str | None = None) -> KnowledgeBase:
    require_admin(actor)
    if KnowledgeBase.objects.filter(tenant=actor.tenant, name=name.strip()).exists():
        raise Conflict(_("A knowledge base with that name exists."), code="duplicate")
    try:
        kb = kb_services.knowledge_base_create(tenant=actor.tenant, name=name, description=description)
    except ValidationError as exc:
        raise InvalidInput(_first_message(exc)) from None
    _audit(actor, "knowledge_base.create", kb, ip, name=kb.name)
    return kb


@transaction.atomic
def knowledge_base_edit(
    *, knowledge_base: KnowledgeBase, actor: Agent, changes: dict[str, Any], ip: str | None = None
) -> KnowledgeBase:
    """Rename, describe, or point at an embeddings or answer-check endpoint; a blank key keeps the stored one."""
    require_admin(actor)
    kb = knowledge_base
    for secret in ("embedding_api_key", "llm_api_key"):
        if not changes.get(secret):
            changes.pop(secret, None)
    changed = [name for name, value in changes.items() if getattr(kb, name) != value]
    if not changed:
        return kb
    name = changes.get("name", kb.name).strip()
    if KnowledgeBase.objects.filter(tenant_id=kb.tenant_id, name=name).exclude(pk=kb.pk).exists():
        raise Conflict(_("A knowledge base with that name exists."), code="duplicate")
    for field in changed:
        setattr(kb, field, changes[field].strip() if field == "name" else changes[field])
    try:
        kb.full_clean()
    except ValidationError as exc:
        raise InvalidInput(_first_message(exc)) from None
    kb.save(update_fields=[*changed, "updated_at"])
    if {"embedding_base_url", "embedding_model", "embedding_api_key"} & set(changed):
        # Search must stop using vectors of the old model at once.
        from bots.knowledge.index import bump_version_on_commit

        bump_version_on_commit(tenant_id=kb.tenant_id, kb_id=kb.pk)
    _audit(actor, "knowledge_base.update", kb, ip, fields=_public_fields(changed))
    return kb


@transaction.atomic
def knowledge_base_remove(*, knowledge_base: KnowledgeBase, actor: Agent, ip: str | None = None) -> None:
    require_admin(actor)
    _audit(actor, "knowledge_base.delete", knowledge_base, ip, name=knowledge_base.name)
    kb_services.knowledge_base_delete(knowledge_base=knowledge_base)


@transaction.atomic
def document_add(
    *,
    knowledge_base: KnowledgeBase,
    actor: Agent,
    title: str = "",
    text: str | None = None,
    data: bytes | None = None,
    filename: str = "",
    ip: str | None = None,
) -> Document:
    """Store the document; ingestion runs after commit (a bad file is stored as failed, with its reason)."""
    require_admin(actor)
    document = kb_services.document_create(
        knowledge_base=knowledge_base, title=title, text=text, data=data, filename=filename
    )
    _audit(
        actor,
        "knowledge.document.create",
        document,
        ip,
        title=document.title,
        knowledge_base=knowledge_base.pk,
        status=document.status,
    )
    return document


@transaction.atomic
def document_retry(*, document: Document, actor: Agent, ip: str | None = None) -> Document:
    require_admin(actor)
    kb_services.document_reingest(document=document)
    _audit(actor, "knowledge.document.reingest", document, ip, title=document.title)
    return document


@transaction.atomic
def document_remove(*, document: Document, actor: Agent, ip: str | None = None) -> None:
    require_admin(actor)
    _audit(actor, "knowledge.document.delete", document, ip, title=document.title)
    kb_services.document_delete(document=document)


@transaction.atomic
def faq_add(
    *,
    knowledge_base: KnowledgeBase,
    actor: Agent,
    question: str,
    answer: str,
    alternates: list[str],
    enabled: bool = True,
    ip: str | None = None,
) -> FaqEntry:
    require_admin(actor)
    try:
        entry = kb_services.faq_create(
            knowledge_base=knowledge_base, question=question, answer=answer, alternates=alternates, enabled=enabled
        )
    except ValidationError as exc:
        raise InvalidInput(_first_message(exc)) from None
    _audit(actor, "knowledge.faq.create", entry, ip, question=entry.question)
    return entry


@transaction.atomic
def faq_edit(
    *,
    entry: FaqEntry,
    actor: Agent,
    question: str | None = None,
    answer: str | None = None,
    alternates: list[str] | None = None,
    enabled: bool | None = None,
    ip: str | None = None,
) -> FaqEntry:
    require_admin(actor)
    try:
        kb_services.faq_update(entry=entry, question=question, answer=answer, alternates=alternates, enabled=enabled)
    except ValidationError as exc:
        raise InvalidInput(_first_message(exc)) from None
    _audit(actor, "knowledge.faq.update", entry, ip, question=entry.question, enabled=entry.enabled)
    return entry


@transaction.atomic
def faq_remove(*, entry: FaqEntry, actor: Agent, ip: str | None = None) -> None:
    require_admin(actor)
    _audit(actor, "knowledge.faq.delete", entry, ip, question=entry.question)
    kb_services.faq_delete(entry=entry)


@transaction.atomic
def faq_import_file(
    *, knowledge_base: KnowledgeBase, actor: Agent, data: bytes, filename: str, ip: str | None = None
) -> kb_services.FaqImportResult:
    require_admin(actor)
    result = kb_services.faq_import(knowledge_base=knowledge_base, data=data, filename=filename)
    _audit(
        actor,
        "knowledge.faq.import",
        knowledge_base,
        ip,
        filename=filename[:200],
        created=result.created,
        updated=result.updated,
        skipped=result.skipped,
    )
    return result


# --- Bots, business hooks, alert channels -------------------------------------------------


def _one_enabled_per_channel(bot: Bot) -> None:
    if not bot.enabled:
        return
    other = Bot.objects.filter(tenant_id=bot.tenant_id, channel=bot.channel, enabled=True).exclude(pk=bot.pk).first()
    if other is not None:
        raise ValidationError(
            {
                "enabled": _(
                    "“%(name)s” already answers this channel. Only one bot per channel can be enabled: "
                    "turn that one off first, or leave this one off to use it as a backup."
                )
                % {"name": other.name}
            },
            code="bot_one_enabled_per_channel",
        )


@transaction.atomic
def bot_save(
    *,
    bot: Bot,
    actor: Agent,
    knowledge_bases: Iterable[KnowledgeBase],
    changed: Iterable[str],
    ip: str | None = None,
) -> Bot:
    """Create or update a bot the form has filled in; ValidationError carries per-field messages."""
    require_admin(actor)
    bot.tenant = actor.tenant
    knowledge_bases = list(knowledge_bases)
    if any(kb.tenant_id != bot.tenant_id for kb in knowledge_bases) or (
        bot.backup is not None and bot.backup.tenant_id != bot.tenant_id
    ):
        raise InvalidInput(_("That belongs to another workspace."))
    if bot.backup_id is not None and bot.backup_id == bot.pk:
        raise ValidationError({"backup": _("A bot cannot be its own backup.")})
    _one_enabled_per_channel(bot)
    bot.full_clean(exclude=["knowledge_bases"])
    creating = bot.pk is None
    try:
        # A savepoint, so a concurrent enable that wins the race becomes a form error.
        with transaction.atomic():
            bot.save()
    except IntegrityError:
        _one_enabled_per_channel(bot)
        raise
    bot.knowledge_bases.set(knowledge_bases)
    _audit(actor, "bot.create" if creating else "bot.update", bot, ip, name=bot.name, fields=_public_fields(changed))
    return bot


@transaction.atomic
def bot_delete(*, bot: Bot, actor: Agent, ip: str | None = None) -> None:
    require_admin(actor)
    _audit(actor, "bot.delete", bot, ip, name=bot.name)
    bot.delete()


IntegrationRow = BusinessHook | AlertChannel


def _integration_action(row: IntegrationRow) -> str:
    return "bot.hook" if isinstance(row, BusinessHook) else "bot.alert_channel"


@transaction.atomic
def integration_save(
    *, row: IntegrationRow, actor: Agent, changed: Iterable[str], ip: str | None = None
) -> IntegrationRow:
    """Create or update a business hook or an alert channel the form has filled in."""
    require_admin(actor)
    row.tenant = actor.tenant
    row.full_clean()
    creating = row.pk is None
    row.save()
    _audit(
        actor,
        f"{_integration_action(row)}.{'create' if creating else 'update'}",
        row,
        ip,
        name=row.name,
        fields=_public_fields(changed),
    )
    return row


@transaction.atomic
def integration_delete(*, row: IntegrationRow, actor: Agent, ip: str | None = None) -> None:
    require_admin(actor)
    _audit(actor, f"{_integration_action(row)}.delete", row, ip, name=row.name)
    row.delete()
