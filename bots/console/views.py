"""Console pages for knowledge bases: list, documents with live ingestion progress, FAQ, a test box.

Owners and admins only, enforced here on the server; every row is fetched tenant-scoped,
so another workspace's id is a 404. Views parse a form and call one service.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from bots.console import forms, selectors, services
from bots.knowledge.access import access_document, access_faq_entry, access_knowledge_base
from bots.knowledge.answer import kb_answer
from bots.knowledge.models import Document, KnowledgeBase
from bots.knowledge.selectors import faq_list
from bots.knowledge.services import max_document_bytes
from kefu.console.views import admin_required, settings_nav_context
from kefu.errors import Forbidden, KefuError, NotFound
from kefu.models import Agent

KNOWLEDGE_SECTION = "ai-knowledge"
PAGE_SIZE = 50


def ip_of(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


def admin_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Admin only; the domain's NotFound/Forbidden become 404/403 like everywhere in the console."""

    @admin_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404() from None
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None

    return wrapper


def render_page(request: HttpRequest, template: str, *, section: str, title: Any, **context: Any) -> HttpResponse:
    agent: Agent = request.agent  # type: ignore[attr-defined]
    return render(
        request,
        template,
        {
            **settings_nav_context(agent, section=section),
            "section_title": title,
            **context,
        },
    )


def attempt(request: HttpRequest, write: Callable[[], Any], ok: str, redirect_to: str) -> HttpResponse | None:
    """Run a write; success redirects with a message, a domain error is shown on the same page."""
    try:
        write()
    except KefuError as exc:
        messages.error(request, exc.message)
        return None
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
        return None
    messages.success(request, ok)
    return HttpResponseRedirect(redirect_to)


def _agent(request: HttpRequest) -> Agent:
    return request.agent  # type: ignore[attr-defined]


# --- List ------------------------------------------------------------------------------------


@admin_view
@require_http_methods(["GET", "POST"])
def knowledge_list(request: HttpRequest) -> HttpResponse:
    agent = _agent(request)
    form = forms.KnowledgeBaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            kb = services.knowledge_base_add(actor=agent, ip=ip_of(request), **form.cleaned_data)
        except KefuError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, _("Knowledge base created."))
            return HttpResponseRedirect(reverse("ai_console:knowledge-detail", args=[kb.pk]))
    return render_page(
        request,
        "bots/knowledge_list.html",
        section=KNOWLEDGE_SECTION,
        title=gettext_lazy("Knowledge bases"),
        form=form,
        knowledge_bases=selectors.knowledge_base_overview(tenant=agent.tenant),
    )


# --- One knowledge base ---------------------------------------------------------------------


def _document_of(kb: KnowledgeBase, request: HttpRequest) -> Document:
    document = access_document(tenant=kb.tenant, document_id=request.POST.get("document_id"))
    if document.knowledge_base_id != kb.pk:
        raise NotFound()
    return document


def _faq_of(kb: KnowledgeBase, request: HttpRequest) -> Any:
    entry = access_faq_entry(tenant=kb.tenant, faq_id=request.POST.get("faq_id"))
    if entry.knowledge_base_id != kb.pk:
        raise NotFound()
    return entry


def _upload(request: HttpRequest, kb: KnowledgeBase, form: forms.DocumentUploadForm) -> Callable[[], Any]:
    upload = form.cleaned_data["file"]
    # One byte over the limit is enough for the service to refuse it; never read a huge file whole.
    data = upload.read(max_document_bytes() + 1)
    return lambda: services.document_add(
        knowledge_base=kb,
        actor=_agent(request),
        title=form.cleaned_data["title"],
        data=data,
        filename=upload.name or "",
        ip=ip_of(request),
    )


class _Forms:
    """The page's forms: only the one that was submitted is bound."""

    def __init__(self, request: HttpRequest, kb: KnowledgeBase) -> None:
        action = request.POST.get("action") if request.method == "POST" else None

        def data(name: str) -> Any:
            return request.POST if action == name else None

        def files(name: str) -> Any:
            return request.FILES if action == name else None

        self.action = action
        # Several forms share field names on one page: distinct ids keep labels and tests unambiguous.
        self.settings = forms.KnowledgeBaseSettingsForm(data("settings"), knowledge_base=kb, auto_id="kb_%s")
        self.upload = forms.DocumentUploadForm(data("upload"), files("upload"), auto_id="upload_%s")
        self.paste = forms.DocumentPasteForm(data("paste"), auto_id="paste_%s")
        self.faq = forms.FaqForm(data("faq_add"), auto_id="faq_%s")
        self.faq_edit = forms.FaqForm(data("faq_edit"), auto_id="faq_edit_%s")
        self.faq_import = forms.FaqImportForm(data("faq_import"), files("faq_import"), auto_id="faq_import_%s")
        self.ask = forms.AskForm(request.GET if "q" in request.GET else None)


def _handle_post(request: HttpRequest, kb: KnowledgeBase, f: _Forms) -> HttpResponse | None:
    agent, ip = _agent(request), ip_of(request)
    here = reverse("ai_console:knowledge-detail", args=[kb.pk])
    action = f.action
    if action == "delete_kb":
        return attempt(
            request,
            lambda: services.knowledge_base_remove(knowledge_base=kb, actor=agent, ip=ip),
            _("Knowledge base deleted."),
            reverse("ai_console:knowledge"),
        )
    if action == "settings" and f.settings.is_valid():
        return attempt(
            request,
            lambda: services.knowledge_base_edit(
                knowledge_base=kb, actor=agent, changes=dict(f.settings.cleaned_data), ip=ip
            ),
            _("Saved."),
            here,
        )
    if action == "upload" and f.upload.is_valid():
        return attempt(
            request, _upload(request, kb, f.upload), _("Document added; it is being processed."), here + "#documents"
        )
    if action == "paste" and f.paste.is_valid():
        return attempt(
            request,
            lambda: services.document_add(knowledge_base=kb, actor=agent, ip=ip, **f.paste.cleaned_data),
            _("Document added; it is being processed."),
            here + "#documents",
        )
    if action == "reingest":
        document = _document_of(kb, request)
        return attempt(
            request,
            lambda: services.document_retry(document=document, actor=agent, ip=ip),
            _("Processing the document again."),
            here + "#documents",
        )
    if action == "delete_document":
        document = _document_of(kb, request)
        return attempt(
            request,
            lambda: services.document_remove(document=document, actor=agent, ip=ip),
            _("Document deleted."),
            here + "#documents",
        )
    if action == "faq_add" and f.faq.is_valid():
        return attempt(
            request,
            lambda: services.faq_add(knowledge_base=kb, actor=agent, ip=ip, **f.faq.cleaned_data),
            _("FAQ entry added."),
            here + "#faq",
        )
    if action == "faq_edit":
        entry = _faq_of(kb, request)
        if f.faq_edit.is_valid():
            return attempt(
                request,
                lambda: services.faq_edit(entry=entry, actor=agent, ip=ip, **f.faq_edit.cleaned_data),
                _("FAQ entry saved."),
                here + "#faq",
            )
        messages.error(request, _("Check the question and the answer."))
    if action == "faq_toggle":
        entry = _faq_of(kb, request)
        return attempt(
            request,
            lambda: services.faq_edit(entry=entry, actor=agent, enabled=not entry.enabled, ip=ip),
            _("FAQ entry saved."),
            here + "#faq",
        )
    if action == "faq_delete":
        entry = _faq_of(kb, request)
        return attempt(
            request,
            lambda: services.faq_remove(entry=entry, actor=agent, ip=ip),
            _("FAQ entry deleted."),
            here + "#faq",
        )
    if action == "faq_import" and f.faq_import.is_valid():
        upload = f.faq_import.cleaned_data["file"]
        try:
            result = services.faq_import_file(
                knowledge_base=kb, actor=agent, data=upload.read(), filename=upload.name or "", ip=ip
            )
        except KefuError as exc:
            messages.error(request, _("Import failed: %(reason)s") % {"reason": exc.message})
            return None
        messages.success(
            request,
            _("Import done: %(created)d added, %(updated)d updated, %(skipped)d unchanged.")
            % {"created": result.created, "updated": result.updated, "skipped": result.skipped},
        )
        return HttpResponseRedirect(here + "#faq")
    return None


@admin_view
@require_http_methods(["GET", "POST"])
def knowledge_detail(request: HttpRequest, kb_id: int) -> HttpResponse:
    agent = _agent(request)
    kb = access_knowledge_base(tenant=agent.tenant, knowledge_base_id=kb_id)
    f = _Forms(request, kb)
    if request.method == "POST":
        done = _handle_post(request, kb, f)
        if done:
            return done
    answer = None
    if f.ask.is_bound and f.ask.is_valid():
        answer = kb_answer(tenant=agent.tenant, knowledge_base_ids=[kb.pk], question=f.ask.cleaned_data["q"])
    documents = Paginator(selectors.documents_with_chunks(knowledge_base=kb), PAGE_SIZE).get_page(
        request.GET.get("documents_page")
    )
    faqs = Paginator(faq_list(knowledge_base=kb).order_by("id"), PAGE_SIZE).get_page(request.GET.get("faq_page"))
    return render_page(
        request,
        "bots/knowledge_detail.html",
        section=KNOWLEDGE_SECTION,
        title=kb.name,
        kb=kb,
        forms=f,
        documents=documents,
        faqs=faqs,
        answer=answer,
        chunk_total=selectors.chunk_total(knowledge_base=kb),
        active_statuses=selectors.ACTIVE_STATUSES,
    )


def _document_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "status": document.status,
        "status_label": document.get_status_display(),
        "progress": 100 if document.status == "ready" else document.progress,
        "chunks": getattr(document, "chunk_count", 0),
        "error": document.error_reason,
    }


@admin_view
@require_GET
def knowledge_progress(request: HttpRequest, kb_id: int) -> JsonResponse:
    """Polled every second by the page while any document is pending or processing."""
    agent = _agent(request)
    kb = access_knowledge_base(tenant=agent.tenant, knowledge_base_id=kb_id)
    ids = [int(part) for part in request.GET.get("ids", "").split(",") if part.isdigit()][:PAGE_SIZE]
    documents = selectors.document_progress(knowledge_base=kb, ids=ids)
    active = sum(1 for d in documents if d.status in selectors.ACTIVE_STATUSES)
    response = JsonResponse(
        {
            "documents": [_document_json(d) for d in documents],
            "active": active,
            "chunks": selectors.chunk_total(knowledge_base=kb),
        }
    )
    response["Cache-Control"] = "no-store"
    return response
