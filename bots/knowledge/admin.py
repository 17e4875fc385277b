"""Admin for knowledge bases: documents with status and progress, FAQ entries inline."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from bots.knowledge import services
from bots.knowledge.models import Chunk, Document, FaqEntry, KnowledgeBase


class DocumentInline(admin.TabularInline):
    model = Document
    fields = ("title", "source_type", "status", "progress", "error_reason")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("error reason"))
    def error_reason(self, obj: Document) -> str:
        return obj.error_reason


class FaqInline(admin.StackedInline):
    model = FaqEntry
    fields = ("question", "alternates", "answer", "enabled")
    extra = 0


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "created_at")
    # The key is a secret: never echo it back into the page.

    def get_form(self, request: HttpRequest, obj: object = None, change: bool = False, **kwargs: object) -> type:
        kwargs["widgets"] = {
            "embedding_api_key": forms.PasswordInput(render_value=False),
            "llm_api_key": forms.PasswordInput(render_value=False),
        }
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request: HttpRequest, obj: KnowledgeBase, form: object, change: bool) -> None:
        stored = KnowledgeBase.objects.get(pk=obj.pk) if change else None
        for name in ("embedding_api_key", "llm_api_key"):
            if stored is not None and not getattr(obj, name):  # an empty password field keeps the stored key
                setattr(obj, name, getattr(stored, name))
        super().save_model(request, obj, form, change)

    list_filter = ("tenant",)
    search_fields = ("name",)
    inlines = [DocumentInline, FaqInline]


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("position", "heading_path", "token_count", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "knowledge_base", "source_type", "status", "progress", "error_reason", "updated_at")
    list_filter = ("status", "source_type", "tenant")
    search_fields = ("title",)
    readonly_fields = ("status", "progress", "error_code", "error", "attempts", "content_hash", "ingested_hash")
    inlines = [ChunkInline]
    actions = ["reingest"]

    @admin.display(description=_("error reason"))
    def error_reason(self, obj: Document) -> str:
        return obj.error_reason

    @admin.action(description=_("Ingest again"))
    def reingest(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            services.document_reingest(document=document)
        self.message_user(request, _("Ingestion queued."), messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(document=obj)


@admin.register(FaqEntry)
class FaqEntryAdmin(admin.ModelAdmin):
    list_display = ("question", "knowledge_base", "enabled", "updated_at")
    list_filter = ("enabled", "tenant")
    search_fields = ("question", "answer")
    exclude = ("embedding",)
