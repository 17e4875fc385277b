"""HTTP endpoints of the widget: bootstrap, history, uploads, attachment downloads, close.

These are called from third-party sites, so they authenticate with the signed visitor
token (never cookies, hence no CSRF) and answer CORS only for origins the widget's
inbox lists. Every lookup is scoped to the token's visitor: another visitor's conversation
or attachment is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from kefu import access, ratelimit
from kefu.api.errors import error_body, json_error
from kefu.consumers.visitor import origin_allowed, visitor_conversation_payload, visitor_message
from kefu.errors import Forbidden, InvalidInput, KefuError, NotFound, RateLimited
from kefu.models import Channel, Conversation, Inbox, Status, Tenant, Visitor
from kefu.payloads import attachment_payload, message_payload
from kefu.services.attachments import attachment_create
from kefu.services.conversations import conversation_close, conversation_open
from kefu.services.inboxes import ORIGINS_CACHE_KEY
from kefu.services.presence import inbox_is_online
from kefu.services.routing import routing_queue_position
from kefu.services.visitors import visitor_get_or_create, visitor_identify, visitor_update
from kefu.views import serve_attachment
from kefu.visitor_tokens import BadToken, attachment_link_read, token_from_header, token_issue

ALLOWED_HEADERS = "Authorization, Content-Type"


def _origin(request: HttpRequest) -> str:
    return request.headers.get("Origin", "")


def _known_origins() -> set[str]:
    """Every origin some widget inbox allows; only for preflights, which carry no tenant."""
    origins = cache.get(ORIGINS_CACHE_KEY)
    if origins is None:
        listed_by_inbox = Inbox.objects.filter(
            channel=Channel.WIDGET, is_active=True, tenant__is_active=True
        ).values_list("allowed_origins", flat=True)
        origins = {str(o).strip().rstrip("/").lower() for listed in listed_by_inbox for o in (listed or [])}
        cache.set(ORIGINS_CACHE_KEY, origins, timeout=60)
    return origins


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    return response


def _error(exc: KefuError) -> JsonResponse:
    response = JsonResponse(error_body(exc.code, exc.message, fields=exc.fields), status=exc.status)
    if exc.status == 429:
        response["Retry-After"] = str(max(1, int(60 - time.time() % 60)))  # the counting window's end
    return response


def _ip(request: HttpRequest) -> str:
    return ratelimit.client_ip(request.META.get("REMOTE_ADDR"), request.headers.get("X-Forwarded-For"))


class _Auth:
    def __init__(self, tenant: Tenant, inbox: Inbox, visitor: Visitor) -> None:
        self.tenant, self.inbox, self.visitor = tenant, inbox, visitor


def widget_endpoint(*, methods: tuple[str, ...], token: bool = True) -> Callable:
    """CORS for the tenant's origins, token authentication, errors as JSON."""

    def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            origin = _origin(request)
            if request.method == "OPTIONS":
                response = HttpResponse(status=204)
                if origin and origin.rstrip("/").lower() in _known_origins():
                    _cors(response, origin)
                return response
            if request.method not in methods:
                response = json_error(405, "method_not_allowed")
                response["Allow"] = ", ".join((*methods, "OPTIONS"))
                return response
            allowed_origin = None
            try:
                if token:
                    claims = token_from_header(request.headers.get("Authorization"))
                    try:
                        visitor = access.access_session_visitor(
                            tenant_id=claims.tenant_id, visitor_id=claims.visitor_id
                        )
                        inbox = access.access_session_inbox(tenant_id=claims.tenant_id, inbox_id=claims.inbox_id)
                    except NotFound:
                        raise BadToken() from None
                    tenant = visitor.tenant
                    # Like bootstrap: no Origin (a script off any page) is refused too.
                    if not origin_allowed(origin, inbox.allowed_origins):
                        raise Forbidden(_("This site may not use the widget."), code="origin")
                    if visitor.is_blocked:
                        raise Forbidden(_("This visitor is blocked."), code="blocked")
                    allowed_origin = origin or None
                    if not ratelimit.hit_all(
                        ("visitorhttp", visitor.pk, settings.KEFU_RL_VISITOR_HTTP_PER_MINUTE),
                        ("iphttp", _ip(request), settings.KEFU_RL_IP_HTTP_PER_MINUTE),
                    ):
                        raise RateLimited()
                    response = view(request, _Auth(tenant, inbox, visitor), *args, **kwargs)
                else:
                    response = view(request, *args, **kwargs)
                    allowed_origin = getattr(response, "_kefu_origin", None)
            except BadToken:
                response = json_error(401, "auth_failed", _("Invalid token."))
            except KefuError as exc:
                response = _error(exc)
                if exc.code not in ("origin", "rate_limited") and token:
                    allowed_origin = None
            if allowed_origin:
                _cors(response, allowed_origin)
            response["Cache-Control"] = "no-store"
            return response

        return handler

    return wrap


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(_("The body is not valid JSON."), code="bad_json") from None
    if not isinstance(data, dict):
        raise InvalidInput(_("The body must be a JSON object."), code="bad_json")
    return data


def _str(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    return value[:limit] if isinstance(value, str) else ""


@widget_endpoint(methods=("POST",), token=False)
def bootstrap(request: HttpRequest) -> HttpResponse:
    data = _json_body(request)
    inbox = access.widget_inbox_by_key(widget_key=_str(data, "widget_key", 64))
    tenant = inbox.tenant
    origin = _origin(request)
    if not origin_allowed(origin, inbox.allowed_origins):
        raise Forbidden(_("This site may not use the widget."), code="origin")
    if not ratelimit.hit("ipboot", _ip(request), settings.KEFU_RL_IP_BOOTSTRAPS_PER_MINUTE):
        raise RateLimited()
    anon_id = _str(data, "visitor_id", 64).strip() or secrets.token_urlsafe(16)
    visitor = visitor_get_or_create(
        tenant=tenant,
        anon_id=anon_id,
        ip=_ip(request) or None,
        user_agent=request.headers.get("User-Agent", ""),
        current_url=_str(data, "page_url", 1000),
        referrer=_str(data, "referrer", 1000),
    )
    if data.get("user_id") and data.get("user_hash"):
        visitor = visitor_identify(
            visitor=visitor,
            external_id=str(data["user_id"]),
            signature=str(data["user_hash"]),
            name=_str(data, "name", 120),
            email=_str(data, "email", 254),
        )
    if isinstance(data.get("attributes"), dict):  # kefu('setAttributes', {...})
        visitor = visitor_update(visitor=visitor, attributes=data["attributes"])
    conv = (
        Conversation.objects.filter(visitor=visitor, inbox=inbox)
        .select_related("visitor", "assignee")
        .order_by("-created_at", "-pk")
        .first()
    )
    widget = inbox.widget_settings or {}
    locale = _str(data, "locale", 10) or tenant.locale
    response = JsonResponse(
        {
            "visitor_id": visitor.anon_id,
            "token": token_issue(tenant_id=tenant.pk, visitor_id=visitor.pk, inbox_id=inbox.pk),
            "expires_in": settings.KEFU_VISITOR_TOKEN_MAX_AGE,
            "conversation": visitor_conversation_payload(conv) if conv else None,
            "queue_position": routing_queue_position(conversation=conv) if conv else None,
            "settings": {
                "color": widget.get("color", "#1677ff"),
                "position": widget.get("position", "right"),
                "welcome": widget.get("welcome", ""),
                "avatar": widget.get("avatar", ""),
                "prechat": bool(widget.get("prechat", False)),
                "locale": locale,
                "name": widget.get("name") or tenant.name,
                "sound": bool(widget.get("sound", False)),
                "texts": widget.get("texts") if isinstance(widget.get("texts"), dict) else {},
                "max_upload_mb": tenant.max_upload_mb,
            },
            "online": inbox_is_online(inbox),
            "ws_path": "/ws/visitor/",
        }
    )
    response._kefu_origin = origin  # type: ignore[attr-defined]
    return response


def _visitor_conversation(auth: _Auth, conversation_id: str | None) -> Conversation:
    qs = Conversation.objects.filter(tenant=auth.tenant, inbox=auth.inbox, visitor=auth.visitor).select_related(
        "visitor", "assignee"
    )
    if conversation_id:
        try:
            return qs.get(pk=int(conversation_id))
        except (Conversation.DoesNotExist, ValueError):
            raise NotFound() from None
    conv = qs.order_by("-created_at", "-pk").first()
    if conv is None:
        raise NotFound()
    return conv


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    try:
        return max(0, int(request.GET.get(name, default)))
    except (TypeError, ValueError):
        raise InvalidInput(_("Bad %(name)s.") % {"name": name}, code="invalid") from None


@widget_endpoint(methods=("GET",))
def messages(request: HttpRequest, auth: _Auth) -> HttpResponse:
    from kefu.models import Message

    conv = _visitor_conversation(auth, request.GET.get("conversation_id"))
    limit = min(max(_int_param(request, "limit", 100), 1), 200)
    qs = Message.objects.filter(conversation=conv, is_internal=False).select_related("attachment", "sender_agent")
    before = request.GET.get("before_seq")
    if before:
        page = list(qs.filter(seq__lt=_int_param(request, "before_seq", 0)).order_by("-seq")[: limit + 1])
        has_more = len(page) > limit
        page = list(reversed(page[:limit]))
    else:
        page = list(qs.filter(seq__gt=_int_param(request, "after_seq", 0)).order_by("seq")[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
    return JsonResponse(
        {
            "conversation_id": conv.pk,
            "conversation": visitor_conversation_payload(conv),
            "messages": [visitor_message(message_payload(m), auth.visitor.pk) for m in page],
            "has_more": has_more,
        }
    )


@widget_endpoint(methods=("POST",))
def upload(request: HttpRequest, auth: _Auth) -> HttpResponse:
    if not ratelimit.hit("ipupload", _ip(request), settings.KEFU_RL_IP_UPLOADS_PER_MINUTE):
        raise RateLimited()
    upload_file = request.FILES.get("file")
    if upload_file is None:
        raise InvalidInput(_("Attach a file in the field 'file'."), code="attachment_required")
    limit = min(settings.KEFU_MAX_UPLOAD_BYTES, auth.tenant.max_upload_mb * 1024 * 1024)
    if upload_file.size and upload_file.size > limit:
        raise InvalidInput(_("The file is too large."), code="too_large")
    conv, _created = conversation_open(tenant=auth.tenant, visitor=auth.visitor, inbox=auth.inbox)
    attachment = attachment_create(
        tenant=auth.tenant,
        data=upload_file.read(limit + 1),
        filename=upload_file.name or "file",
        conversation=conv,
    )
    payload = attachment_payload(attachment)
    payload["url"] = visitor_message({"attachment": payload}, auth.visitor.pk)["attachment"]["url"]
    return JsonResponse({"attachment": payload, "conversation_id": conv.pk}, status=201)


@csrf_exempt
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponse | FileResponse:
    """Bearer token, or the short-lived `s` link the socket put in the message (for <img>)."""
    visitor_id: int | None = None
    try:
        if request.GET.get("s"):
            visitor_id = attachment_link_read(request.GET["s"], attachment_id=attachment_id)
        else:
            visitor_id = token_from_header(request.headers.get("Authorization")).visitor_id
    except BadToken:
        return json_error(401, "auth_failed", _("Invalid token."))
    try:
        item = access.access_visitor_attachment(visitor_id=visitor_id, attachment_id=attachment_id)
    except NotFound:
        return json_error(404)
    response: FileResponse = serve_attachment(item)
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@widget_endpoint(methods=("POST",))
def close(request: HttpRequest, auth: _Auth) -> HttpResponse:
    data = _json_body(request)
    conv = _visitor_conversation(auth, str(data["conversation_id"]) if data.get("conversation_id") else None)
    if conv.status != Status.CLOSED:
        conv = conversation_close(conversation=conv, by="visitor")
    return JsonResponse({"conversation": visitor_conversation_payload(conv)})
