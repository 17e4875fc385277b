"""REST endpoints of the agent console. Session-authenticated agents only.

Each view: resolve the agent, fetch through kefu.access (a foreign id is a 404), check
console visibility, call one selector or service, return.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from kefu import access, selectors
from kefu.access import agent_for_user
from kefu.api.base import KefuApiView
from kefu.api.directory import CannedReplySerializer
from kefu.api.errors import error_body
from kefu.api.serializers import ErrorSerializer
from kefu.console import assist
from kefu.console import selectors as console_selectors
from kefu.console import services as console_services
from kefu.errors import InvalidInput, NotFound
from kefu.models import Agent, CannedReply, Conversation, SenderType, Status
from kefu.payloads import attachment_payload, message_payload
from kefu.services.attachments import attachment_create, message_kind_for
from kefu.services.conversations import conversation_assign, conversation_set_status, conversation_transfer
from kefu.services.messages import message_send
from kefu.services.visitors import visitor_update


class IsConsoleAgent(permissions.BasePermission):
    """An active agent signed in with a session; API keys have no agent and no console."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.auth is not None:
            # An API key is a tenant, not an agent: for it these routes do not exist.
            raise NotFound()
        agent = agent_for_user(request.user)
        if agent is None:
            return False
        request.agent, request.tenant = agent, agent.tenant  # type: ignore[attr-defined]
        return True


class ConsoleApi(KefuApiView):
    permission_classes = [IsConsoleAgent]

    def agent(self) -> Agent:
        return self.request.agent  # type: ignore[attr-defined]

    def conversation(self, conversation_id: int) -> Conversation:
        agent = self.agent()
        return access.access_conversation(tenant=agent.tenant, conversation_id=conversation_id, agent=agent)


Detail = inline_serializer("ConsoleConversation", {"id": serializers.IntegerField(), "status": serializers.CharField()})
AnyObject = inline_serializer("ConsoleObject", {"id": serializers.IntegerField(required=False)})


class InboxApi(ConsoleApi):
    class FilterSerializer(serializers.Serializer):
        box = serializers.ChoiceField(choices=console_selectors.BOXES, default="mine")
        team_id = serializers.IntegerField(required=False, min_value=1)
        tag_id = serializers.IntegerField(required=False, min_value=1)
        inbox_id = serializers.IntegerField(required=False, min_value=1)
        q = serializers.CharField(required=False, allow_blank=True, max_length=100)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
        offset = serializers.IntegerField(required=False, min_value=0, default=0)

    @extend_schema(parameters=[FilterSerializer], responses={200: AnyObject}, operation_id="console_inbox")
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = dict(filters.validated_data)
        limit, offset = data.pop("limit"), data.pop("offset")
        rows = list(console_selectors.inbox_list(agent=self.agent(), **data)[offset : offset + limit + 1])
        more, rows = len(rows) > limit, rows[:limit]
        lasts = console_selectors.last_messages(rows)
        return Response(
            {
                "results": [console_selectors.inbox_item(c, lasts.get(c.pk)) for c in rows],
                "has_more": more,
                "counts": console_selectors.inbox_counts(agent=self.agent()),
            }
        )


class MetaApi(ConsoleApi):
    @extend_schema(responses={200: AnyObject}, operation_id="console_meta")
    def get(self, request: Request) -> Response:
        return Response(console_selectors.console_meta(agent=self.agent()))


class ConversationApi(ConsoleApi):
    @extend_schema(responses={200: Detail, 404: ErrorSerializer}, operation_id="console_conversation")
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(console_selectors.conversation_detail(conversation=self.conversation(conversation_id)))


class HistoryApi(ConsoleApi):
    class FilterSerializer(serializers.Serializer):
        before_seq = serializers.IntegerField(required=False, min_value=1)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    @extend_schema(
        parameters=[FilterSerializer], responses={200: AnyObject, 404: ErrorSerializer}, operation_id="console_history"
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = selectors.message_history(conversation=conv, **filters.validated_data)
        has_more = bool(page) and page[0].seq > 1
        return Response({"messages": [message_payload(m) for m in page], "has_more": has_more})


class TagsApi(ConsoleApi):
    @extend_schema_serializer(component_name="TagsInput")
    class InputSerializer(serializers.Serializer):
        tag_id = serializers.IntegerField(required=False, min_value=1)
        name = serializers.CharField(required=False, max_length=50)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("tag_id") and not (attrs.get("name") or "").strip():
                raise serializers.ValidationError(_("Give a tag id or a name."))
            return attrs

    @extend_schema(
        request=InputSerializer, responses={201: AnyObject, 404: ErrorSerializer}, operation_id="console_tag_add"
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tag = None
        if data.validated_data.get("tag_id"):
            tag = access.access_tag(tenant=conv.tenant, tag_id=data.validated_data["tag_id"])
        tag = console_services.conversation_tag_add(
            conversation=conv, tag=tag, name=data.validated_data.get("name", ""), actor=self.agent()
        )
        return Response({"id": tag.pk, "name": tag.name, "color": tag.color}, status=status.HTTP_201_CREATED)


class TagDeleteApi(ConsoleApi):
    @extend_schema(request=None, responses={204: None, 404: ErrorSerializer}, operation_id="console_tag_remove")
    def delete(self, request: Request, conversation_id: int, tag_id: int) -> Response:
        conv = self.conversation(conversation_id)
        tag = access.access_tag(tenant=conv.tenant, tag_id=tag_id)
        console_services.conversation_tag_remove(conversation=conv, tag=tag, actor=self.agent())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TransferApi(ConsoleApi):
    @extend_schema_serializer(component_name="TransferInput")
    class InputSerializer(serializers.Serializer):
        agent_id = serializers.IntegerField(required=False, min_value=1)
        team_id = serializers.IntegerField(required=False, min_value=1)
        note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if bool(attrs.get("agent_id")) == bool(attrs.get("team_id")):
                raise serializers.ValidationError(_("Transfer to exactly one agent or one team."))
            return attrs

    @extend_schema(
        request=InputSerializer,
        responses={200: Detail, 400: ErrorSerializer, 404: ErrorSerializer},
        operation_id="console_transfer",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        to_agent = access.access_agent(tenant=conv.tenant, agent_id=v["agent_id"]) if v.get("agent_id") else None
        to_team = access.access_team(tenant=conv.tenant, team_id=v["team_id"]) if v.get("team_id") else None
        note = (v.get("note") or "").strip()
        conv = conversation_transfer(
            conversation=conv, actor=self.agent(), to_agent=to_agent, to_team=to_team, note=note
        )
        if note:
            # Event metadata is not on the wire, so the note also travels as an internal
            # note: the next agent reads it in the thread, the visitor never sees it.
            message_send(
                conversation=conv, sender_type=SenderType.AGENT, agent=self.agent(), body=note, is_internal=True
            )
        return Response(console_selectors.conversation_detail(conversation=conv))


class TakeOverApi(ConsoleApi):
    @extend_schema(
        request=None,
        responses={200: Detail, 404: ErrorSerializer, 409: ErrorSerializer},
        operation_id="console_take_over",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = conversation_assign(
            conversation=self.conversation(conversation_id), agent=self.agent(), actor=self.agent()
        )
        return Response(console_selectors.conversation_detail(conversation=conv))


class HandBackApi(ConsoleApi):
    @extend_schema(
        request=None,
        responses={200: Detail, 404: ErrorSerializer, 409: ErrorSerializer},
        operation_id="console_hand_back",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = conversation_set_status(conversation=self.conversation(conversation_id), status=Status.BOT)
        return Response(console_selectors.conversation_detail(conversation=conv))


class UploadApi(ConsoleApi):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": inline_serializer("ConsoleUpload", {"file": serializers.FileField()})},
        responses={201: AnyObject, 400: ErrorSerializer, 404: ErrorSerializer},
        operation_id="console_upload",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput(_("Choose a file."), code="attachment_required")
        if upload.size > settings.KEFU_MAX_UPLOAD_BYTES:
            raise InvalidInput(_("The file is too large."), code="too_large")
        attachment = attachment_create(
            tenant=conv.tenant, data=upload.read(), filename=upload.name or "", conversation=conv
        )
        return Response(
            {"attachment": attachment_payload(attachment), "kind": message_kind_for(attachment.content_type)},
            status=status.HTTP_201_CREATED,
        )


class CannedRepliesApi(ConsoleApi):
    @extend_schema(responses={200: CannedReplySerializer(many=True)}, operation_id="console_canned_replies")
    def get(self, request: Request) -> Response:
        rows = CannedReply.objects.filter(tenant=self.agent().tenant).order_by("shortcut")
        return Response([{"id": c.pk, "shortcut": c.shortcut, "title": c.title, "body": c.body} for c in rows])


class VisitorApi(ConsoleApi):
    @extend_schema_serializer(component_name="VisitorInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(required=False, allow_blank=True, max_length=120)
        email = serializers.EmailField(required=False, allow_blank=True)
        phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
        attributes = serializers.DictField(required=False)

    class FilterSerializer(serializers.Serializer):
        conversation_id = serializers.IntegerField(required=False, min_value=1)

    def _visitor(self, visitor_id: int) -> Any:
        agent = self.agent()
        return access.access_visitor(tenant=agent.tenant, visitor_id=visitor_id, agent=agent)

    @extend_schema(
        parameters=[FilterSerializer], responses={200: AnyObject, 404: ErrorSerializer}, operation_id="console_visitor"
    )
    def get(self, request: Request, visitor_id: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return Response(
            console_selectors.visitor_panel(
                visitor=self._visitor(visitor_id), exclude_conversation_id=filters.validated_data.get("conversation_id")
            )
        )

    @extend_schema(
        request=InputSerializer,
        responses={200: AnyObject, 400: ErrorSerializer, 404: ErrorSerializer},
        operation_id="console_visitor_update",
    )
    def patch(self, request: Request, visitor_id: int) -> Response:
        visitor = self._visitor(visitor_id)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        visitor = visitor_update(visitor=visitor, **data.validated_data)
        return Response(console_selectors.visitor_panel(visitor=visitor))


class AssistApi(ConsoleApi):
    """Contract: 200 {configured, provider, summary, suggestions: [{text, sources: [{title, url, snippet}]}]}.

    ``configured`` is false (and the lists empty) when no provider is registered for the
    tenant; a provider failure is 503 with code ``assist_unavailable``.
    """

    @extend_schema(
        request=None,
        responses={200: AnyObject, 404: ErrorSerializer, 503: ErrorSerializer},
        operation_id="console_assist",
        parameters=[OpenApiParameter("conversation_id", int, OpenApiParameter.PATH)],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        try:
            result = assist.assist_for(conversation=conv, agent=self.agent())
        except assist.AssistUnavailable:
            return Response(
                error_body("assist_unavailable", _("AI assist is unavailable right now.")),
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        if result is None:
            return Response({"configured": False, "provider": "", "summary": "", "suggestions": []})
        return Response(assist.assist_payload(result))
