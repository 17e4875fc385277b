"""Django admin: the superuser's back office; a tenant owner or admin sees only its rows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from kefu.access import agent_for_user
from kefu.models import (
    Agent,
    ApiKey,
    Attachment,
    AuditLog,
    CannedReply,
    Conversation,
    Inbox,
    Message,
    Tag,
    Team,
    Tenant,
    Visitor,
    WebhookDelivery,
    WebhookSubscription,
)
from kefu.services.api_keys import all_scopes, api_key_issue, api_key_revoke
from kefu.services.audit import audit_record


def _tenant_admin(request: HttpRequest) -> Agent | None:
    """The agent record of a staff user who administers a tenant (owner or admin)."""
    agent = agent_for_user(request.user)
    if agent is not None and agent.is_admin and request.user.is_staff:
        return agent
    return None


class TenantScopedAdmin(admin.ModelAdmin):
    """Rows, choices and permissions limited to the tenant of a non-superuser."""

    tenant_field = "tenant"

    def _scoped(self, request: HttpRequest) -> bool:
        return not request.user.is_superuser

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        qs = super().get_queryset(request)
        if not self._scoped(request):
            return qs
        agent = _tenant_admin(request)
        if agent is None:
            return qs.none()
        return qs.filter(**{self.tenant_field: agent.tenant})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        agent = _tenant_admin(request) if self._scoped(request) else None
        if agent is not None:
            model = db_field.related_model
            if model is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk=agent.tenant_id)
            elif any(f.name == "tenant" for f in model._meta.get_fields()):
                kwargs["queryset"] = model.objects.filter(tenant=agent.tenant)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        agent = _tenant_admin(request) if self._scoped(request) else None
        if agent is not None and any(f.name == "tenant" for f in db_field.related_model._meta.get_fields()):
            kwargs["queryset"] = db_field.related_model.objects.filter(tenant=agent.tenant)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        excluded = list(super().get_exclude(request, obj) or [])
        if self._scoped(request) and self.tenant_field == "tenant":
            excluded.append("tenant")
        return excluded

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        agent = _tenant_admin(request) if self._scoped(request) else None
        if agent is not None and self.tenant_field == "tenant":
            obj.tenant = agent.tenant
        super().save_model(request, obj, form, change)
        audit_record(
            tenant=getattr(obj, "tenant", None) if self.tenant_field == "tenant" else None,
            actor=request.user,
            action="admin.change" if change else "admin.add",
            target=obj,
            data={"fields": list(form.changed_data)},
            ip=request.META.get("REMOTE_ADDR"),
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_record(
            tenant=getattr(obj, "tenant", None) if self.tenant_field == "tenant" else None,
            actor=request.user,
            action="admin.delete",
            target=obj,
            ip=request.META.get("REMOTE_ADDR"),
        )
        super().delete_model(request, obj)

    def _allowed(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or _tenant_admin(request) is not None

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = "pk"
    list_display = ("name", "slug", "routing_policy", "is_active", "created_at")
    list_filter = ("is_active", "routing_policy", "locale")
    search_fields = ("name", "slug", "inboxes__key")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request: HttpRequest) -> models.QuerySet:
        qs = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return qs
        agent = _tenant_admin(request)
        return qs.filter(pk=agent.tenant_id) if agent else qs.none()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(Inbox)
class InboxAdmin(TenantScopedAdmin):
    list_display = ("name", "channel", "tenant", "key", "team", "is_active", "created_at")
    list_filter = ("channel", "is_active", "tenant")
    search_fields = ("name", "key")
    # Credentials are entered on the console's channel pages; the admin never shows them.
    exclude = ("credentials_data",)
    readonly_fields = ("key", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("channel")  # an inbox keeps its channel: its conversations copy it
        return fields


class TeamAgentsInline(admin.TabularInline):
    model = Agent.teams.through
    extra = 0
    verbose_name = _("member")
    verbose_name_plural = _("members")


@admin.register(Team)
class TeamAdmin(TenantScopedAdmin):
    list_display = ("name", "tenant")
    list_filter = ("tenant",)
    search_fields = ("name",)
    inlines = [TeamAgentsInline]


@admin.register(Agent)
class AgentAdmin(TenantScopedAdmin):
    list_display = ("__str__", "user", "tenant", "role", "capacity", "presence", "is_active")
    list_filter = ("role", "presence", "is_active", "tenant")
    search_fields = ("display_name", "user__username", "user__email")
    filter_horizontal = ("teams", "inboxes")
    readonly_fields = ("presence_changed_at", "last_assigned_at", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("user")  # an owner cannot re-point an agent at another user
        return fields


@admin.register(Visitor)
class VisitorAdmin(TenantScopedAdmin):
    list_display = ("__str__", "email", "external_id", "identity_verified", "ip", "last_seen_at", "is_blocked")
    list_filter = ("identity_verified", "is_blocked", "tenant")
    search_fields = ("name", "email", "phone", "external_id", "anon_id")
    readonly_fields = (
        "anon_id",
        "external_id",
        "identity_verified",
        "first_seen_at",
        "last_seen_at",
        "ip",
        "user_agent",
    )


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ("seq", "sender_type", "kind", "body", "is_internal", "created_at")
    readonly_fields = fields
    ordering = ("seq",)
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(TenantScopedAdmin):
    list_display = ("id", "visitor", "inbox", "status", "assignee", "team", "priority", "last_message_at", "rating")
    list_filter = ("status", "channel", "priority", "tenant", "inbox")
    search_fields = ("id", "visitor__name", "visitor__email", "messages__body")
    raw_id_fields = ("visitor",)
    filter_horizontal = ("tags",)
    inlines = [MessageInline]
    list_select_related = ("visitor", "inbox", "assignee", "team")
    readonly_fields = (
        "inbox",
        "channel",
        "last_seq",
        "created_at",
        "assigned_at",
        "first_response_at",
        "last_message_at",
        "closed_at",
    )

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        queryset, _dups = super().get_search_results(request, queryset, search_term)
        return queryset, True


@admin.register(Message)
class MessageAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("conversation", "seq", "sender_type", "kind", "short_body", "is_internal", "created_at")
    list_filter = ("sender_type", "kind", "is_internal", "tenant")
    search_fields = ("body", "client_msg_id", "trace_id")
    raw_id_fields = ("conversation", "attachment", "sender_agent")

    @admin.display(description=_("body"))
    def short_body(self, obj: Message) -> str:
        return obj.body[:80]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("original_name", "content_type", "size", "conversation", "created_at")
    list_filter = ("content_type", "tenant")
    search_fields = ("original_name", "sha256")


@admin.register(CannedReply)
class CannedReplyAdmin(TenantScopedAdmin):
    list_display = ("shortcut", "title", "tenant")
    list_filter = ("tenant",)
    search_fields = ("shortcut", "title", "body")


@admin.register(Tag)
class TagAdmin(TenantScopedAdmin):
    list_display = ("name", "color", "tenant")
    list_filter = ("tenant",)
    search_fields = ("name",)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=[(s, s) for s in all_scopes()],
        initial=["read"],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("admin includes write includes read; a resource scope limits the key to that resource."),
    )

    class Meta:
        model = ApiKey
        fields = ["tenant", "name", "scopes", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """Keys are issued here (the token is shown once) and revoked; never edited."""

    form = ApiKeyForm
    list_display = (
        "name",
        "prefix",
        "tenant",
        "scopes",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("tenant",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:  # an issued key changes only by revocation
            return ("name", "scopes", "expires_at", *self.readonly_fields)
        return self.readonly_fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row (and its audit trail) stays

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        for key in queryset:
            api_key_revoke(key=key, actor=request.user)

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return
        from django.contrib import messages

        agent = _tenant_admin(request)
        tenant = agent.tenant if agent and not request.user.is_superuser else obj.tenant
        key, token = api_key_issue(
            tenant=tenant,
            name=obj.name,
            scopes=form.cleaned_data["scopes"],
            expires_at=obj.expires_at,
            created_by=request.user,
        )
        obj.pk, obj.prefix, obj.key_hash, obj.tenant = key.pk, key.prefix, key.key_hash, tenant
        obj._state.adding = False
        # Shown once; only its hash is kept.
        messages.warning(request, _("New API key (copy it now, it is not shown again): %(token)s") % {"token": token})


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(TenantScopedAdmin):
    list_display = ("url", "tenant", "is_active", "consecutive_failures", "disabled_at", "created_at")
    list_filter = ("is_active", "tenant")
    search_fields = ("url", "description")
    readonly_fields = ("consecutive_failures", "disabled_at", "disabled_reason", "created_by", "created_at")
    exclude = ("secret",)  # shown once when created (console or API); rotated there

    def save_model(self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool) -> None:
        if not change:
            from django.contrib import messages

            from kefu.services.webhooks import webhook_create

            agent = _tenant_admin(request)
            tenant = agent.tenant if agent and not request.user.is_superuser else obj.tenant
            sub, secret = webhook_create(
                tenant=tenant,
                url=obj.url,
                events=obj.events,
                include_internal=obj.include_internal,
                description=obj.description,
                actor=request.user,
            )
            obj.pk, obj.tenant, obj.secret = sub.pk, tenant, secret
            obj._state.adding = False
            messages.warning(request, _("Signing secret (copy it now, it is not shown again): %(s)s") % {"s": secret})
            return
        super().save_model(request, obj, form, change)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, TenantScopedAdmin):
    """The delivery log; "send again" queues a new delivery of the same payload."""

    list_display = ("id", "event", "subscription", "status", "attempts", "response_status", "response_ms", "created_at")
    list_filter = ("status", "event", "tenant")
    search_fields = ("event", "subscription__url")
    raw_id_fields = ("subscription",)
    actions = ["send_again"]

    @admin.action(description=_("Send again"))
    def send_again(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        from kefu.services.webhooks import webhook_redeliver

        for delivery in queryset.select_related("tenant"):
            webhook_redeliver(delivery=delivery, actor=request.user)
        self.message_user(request, _("Queued to be sent again."))


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyMixin, TenantScopedAdmin):
    list_display = ("created_at", "actor", "action", "target_type", "target_id", "ip", "tenant")
    list_filter = ("action", "tenant")
    search_fields = ("action", "target_id", "trace_id")
    date_hierarchy = "created_at"
