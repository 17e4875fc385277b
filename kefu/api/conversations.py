"""REST: conversations and their messages. Parse, fetch through kefu.access, call one
service or selector, return. The tenant comes from the key or the session; a session
sees what the console shows its agent."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from kefu import access, selectors
from kefu.api.auth import request_agent, tenant_of
from kefu.api.base import KefuApiView
from kefu.api.pagination import PageParams, keyset_page, page_response, page_serializer
from kefu.api.serializers import ErrorSerializer
from kefu.api.shapes import ConversationSerializer, MessageSerializer, TagRefSerializer, conversation_out, message_out
from kefu.console import services as console_services
from kefu.errors import Conflict, InvalidInput
from kefu.models import Channel, Conversation, Kind, Priority, SenderType, Status
from kefu.services import conversations as conv_services
from kefu.services.messages import message_send

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
WRITE_ERRORS = {**ERRORS, 409: ErrorSerializer}
ConversationPage = page_serializer("ConversationPage", ConversationSerializer)


class ConversationsApi(KefuApiView):
    scope_resource = "conversations"

    def conversation(self, conversation_id: object) -> Conversation:
        return access.access_conversation(
            tenant=tenant_of(self.request), conversation_id=conversation_id, agent=request_agent(self.request)
        )


def _out(conv: Conversation) -> Response:
    return Response(conversation_out(selectors.conversation_fresh(conversation=conv)))


class ConversationListApi(ConversationsApi):
    class ConversationFilterSerializer(PageParams):
        status = serializers.MultipleChoiceField(choices=Status.choices, required=False)
        assignee_id = serializers.CharField(required=False, help_text="An agent id, or `none` for unassigned.")
        team_id = serializers.IntegerField(required=False, min_value=1)
        tag = serializers.CharField(required=False, max_length=50, help_text="A tag id or name.")
        channel = serializers.ChoiceField(choices=Channel.choices, required=False)
        inbox_id = serializers.IntegerField(required=False, min_value=1)
        priority = serializers.MultipleChoiceField(choices=Priority.choices, required=False)
        contact_id = serializers.IntegerField(required=False, min_value=1)
        created_after = serializers.DateTimeField(required=False)
        created_before = serializers.DateTimeField(required=False)
        updated_after = serializers.DateTimeField(required=False, help_text="Last message at or after.")
        updated_before = serializers.DateTimeField(required=False)
        q = serializers.CharField(
            required=False, allow_blank=True, max_length=100, help_text="Contact name, e-mail, phone or message text."
        )

        def validate_assignee_id(self, value: str) -> int | str:
            if value == "none":
                return value
            if not value.isdigit() or int(value) < 1:
                raise serializers.ValidationError(_("An agent id or none."))
            return int(value)

    class ConversationCreateSerializer(serializers.Serializer):
        contact_id = serializers.IntegerField(min_value=1)
        inbox_id = serializers.IntegerField(
            required=False, min_value=1, help_text="An API-channel inbox; default: the tenant's first API inbox."
        )
        team_id = serializers.IntegerField(required=False, min_value=1)
        priority = serializers.ChoiceField(choices=Priority.choices, required=False)
        attributes = serializers.DictField(required=False)

    @extend_schema(
        parameters=[ConversationFilterSerializer],
        responses={200: ConversationPage, **ERRORS},
        operation_id="conversations_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.ConversationFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params = dict(filters.validated_data)
        page = {k: params.pop(k) for k in ("cursor", "limit", "order") if k in params}
        qs = selectors.conversation_list(tenant=tenant_of(request), agent=request_agent(request), **params)
        rows, cursor = keyset_page(qs.prefetch_related("tags"), page)
        return Response(page_response([conversation_out(c) for c in rows], cursor))

    @extend_schema(
        request=ConversationCreateSerializer,
        responses={201: ConversationSerializer, 200: ConversationSerializer, **WRITE_ERRORS},
        operation_id="conversations_create",
        description="Open a conversation for a contact through the API channel (or return the contact's open "
        "one, with 200). Messages are then sent with `POST /conversations/{id}/messages/`.",
        examples=[OpenApiExample("Open", value={"contact_id": 42, "priority": 2, "attributes": {"order": "A-1001"}})],
    )
    def post(self, request: Request) -> Response:
        data = self.ConversationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        tenant = tenant_of(request)
        contact = access.access_visitor(tenant=tenant, visitor_id=v["contact_id"], agent=None)
        team = access.access_team(tenant=tenant, team_id=v["team_id"]) if v.get("team_id") else None
        inbox = None
        if v.get("inbox_id"):
            inbox = access.access_inbox(tenant=tenant, inbox_id=v["inbox_id"])
            if inbox.channel != Channel.API:
                raise InvalidInput(
                    _("Conversations are created through an API inbox."),
                    code="not_api_channel",
                    fields={"inbox_id": [_("Not an API inbox.")]},
                )
        with transaction.atomic():
            conv, created = conv_services.conversation_open(
                tenant=tenant, visitor=contact, inbox=inbox, channel=Channel.API, team=team
            )
            if created and ("priority" in v or "attributes" in v):
                conv = conv_services.conversation_update(
                    conversation=conv, priority=v.get("priority"), attributes=v.get("attributes")
                )
        response = _out(conv)
        response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return response


class ConversationDetailApi(ConversationsApi):
    class ConversationUpdateSerializer(serializers.Serializer):
        priority = serializers.ChoiceField(choices=Priority.choices, required=False)
        attributes = serializers.DictField(
            required=False, help_text="Merged into the stored attributes; a null value removes a key."
        )
        status = serializers.ChoiceField(
            choices=[Status.BOT, Status.QUEUED, Status.CLOSED, "open"],
            required=False,
            help_text="`closed` closes, `open` reopens, `bot`/`queued` hand over. Assign with assignee_id.",
        )
        assignee_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
        team_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)

    @extend_schema(responses={200: ConversationSerializer, **ERRORS}, operation_id="conversations_retrieve")
    def get(self, request: Request, conversation_id: int) -> Response:
        return _out(self.conversation(conversation_id))

    @extend_schema(
        request=ConversationUpdateSerializer,
        responses={200: ConversationSerializer, **WRITE_ERRORS},
        operation_id="conversations_update",
        examples=[OpenApiExample("Escalate", value={"priority": 3, "attributes": {"plan": "gold"}})],
    )
    def patch(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.ConversationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        agent = request_agent(request)
        with transaction.atomic():
            if "priority" in v or "attributes" in v:
                conv = conv_services.conversation_update(
                    conversation=conv, priority=v.get("priority"), attributes=v.get("attributes")
                )
            if "team_id" in v:
                team = access.access_team(tenant=conv.tenant, team_id=v["team_id"]) if v["team_id"] else None
                conv = conv_services.conversation_set_team(conversation=conv, team=team)
            if "assignee_id" in v:
                if v["assignee_id"] is None:
                    conv = conv_services.conversation_set_status(conversation=conv, status=Status.QUEUED)
                else:
                    target = access.access_agent(tenant=conv.tenant, agent_id=v["assignee_id"])
                    conv = conv_services.conversation_assign(conversation=conv, agent=target, actor=agent)
            wanted = v.get("status")
            if wanted == Status.CLOSED:
                conv = conv_services.conversation_close(conversation=conv, actor=agent)
            elif wanted == "open":
                conv = conv_services.conversation_reopen(conversation=conv, actor=agent)
            elif wanted:
                conv = conv_services.conversation_set_status(conversation=conv, status=wanted)
        return _out(conv)


class ConversationAssignApi(ConversationsApi):
    class AssignSerializer(serializers.Serializer):
        agent_id = serializers.IntegerField(min_value=1)

    @extend_schema(
        request=AssignSerializer,
        responses={200: ConversationSerializer, **WRITE_ERRORS},
        operation_id="conversations_assign",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.AssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = access.access_agent(tenant=conv.tenant, agent_id=data.validated_data["agent_id"])
        return _out(conv_services.conversation_assign(conversation=conv, agent=target, actor=request_agent(request)))


class ConversationTransferApi(ConversationsApi):
    class TransferSerializer(serializers.Serializer):
        agent_id = serializers.IntegerField(required=False, min_value=1)
        team_id = serializers.IntegerField(required=False, min_value=1)
        note = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if bool(attrs.get("agent_id")) == bool(attrs.get("team_id")):
                raise serializers.ValidationError(_("Transfer to exactly one agent or one team."))
            return attrs

    @extend_schema(
        request=TransferSerializer,
        responses={200: ConversationSerializer, **WRITE_ERRORS},
        operation_id="conversations_transfer",
        examples=[OpenApiExample("To a team", value={"team_id": 3, "note": "Billing question"})],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.TransferSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        to_agent = access.access_agent(tenant=conv.tenant, agent_id=v["agent_id"]) if v.get("agent_id") else None
        to_team = access.access_team(tenant=conv.tenant, team_id=v["team_id"]) if v.get("team_id") else None
        agent = request_agent(request)
        note = (v.get("note") or "").strip()
        with transaction.atomic():
            conv = conv_services.conversation_transfer(
                conversation=conv, actor=agent, to_agent=to_agent, to_team=to_team, note=note
            )
            if note:  # the next agent reads it in the thread; the visitor never sees it
                message_send(conversation=conv, sender_type=SenderType.AGENT, agent=agent, body=note, is_internal=True)
        return _out(conv)


class ConversationCloseApi(ConversationsApi):
    @extend_schema(request=None, responses={200: ConversationSerializer, **ERRORS}, operation_id="conversations_close")
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        return _out(conv_services.conversation_close(conversation=conv, actor=request_agent(request)))


class ConversationReopenApi(ConversationsApi):
    @extend_schema(
        request=None, responses={200: ConversationSerializer, **WRITE_ERRORS}, operation_id="conversations_reopen"
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        return _out(conv_services.conversation_reopen(conversation=conv, actor=request_agent(request)))


class ConversationReadApi(ConversationsApi):
    class ReadSerializer(serializers.Serializer):
        seq = serializers.IntegerField(required=False, min_value=1, help_text="Read up to here; default: all.")

    @extend_schema(
        request=ReadSerializer,
        responses={200: ConversationSerializer, **ERRORS},
        operation_id="conversations_mark_read",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.ReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        seq = data.validated_data.get("seq") or conv.last_seq
        if seq:
            conv_services.conversation_mark_read(conversation_id=conv.pk, reader="agent", seq=seq)
        return _out(conv)


class ConversationTagsApi(ConversationsApi):
    class ConversationTagSerializer(serializers.Serializer):
        tag_id = serializers.IntegerField(required=False, min_value=1)
        name = serializers.CharField(required=False, max_length=50)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("tag_id") and not (attrs.get("name") or "").strip():
                raise serializers.ValidationError(_("Give a tag id or a name."))
            return attrs

    @extend_schema(
        request=ConversationTagSerializer, responses={201: TagRefSerializer, **ERRORS}, operation_id="conversations_tag"
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.ConversationTagSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tag = None
        if data.validated_data.get("tag_id"):
            tag = access.access_tag(tenant=conv.tenant, tag_id=data.validated_data["tag_id"])
        tag = console_services.conversation_tag_add(
            conversation=conv, tag=tag, name=data.validated_data.get("name", ""), actor=request_agent(request)
        )
        return Response({"id": tag.pk, "name": tag.name, "color": tag.color}, status=status.HTTP_201_CREATED)


class ConversationTagApi(ConversationsApi):
    @extend_schema(request=None, responses={204: None, **ERRORS}, operation_id="conversations_untag")
    def delete(self, request: Request, conversation_id: int, tag_id: int) -> Response:
        conv = self.conversation(conversation_id)
        tag = access.access_tag(tenant=conv.tenant, tag_id=tag_id)
        console_services.conversation_tag_remove(conversation=conv, tag=tag, actor=request_agent(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


MessagePage = page_serializer("MessagePage", MessageSerializer)

SENDERS = {"agent": SenderType.AGENT, "bot": SenderType.BOT, "contact": SenderType.VISITOR}


class MessageListApi(ConversationsApi):
    class MessageFilterSerializer(serializers.Serializer):
        after_seq = serializers.IntegerField(required=False, min_value=0, help_text="Messages after this number.")
        before_seq = serializers.IntegerField(required=False, min_value=1, help_text="Older page: before this number.")
        limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=100)
        include_internal = serializers.BooleanField(required=False, default=True)

    class MessageCreateSerializer(serializers.Serializer):
        body = serializers.CharField(
            max_length=10000, allow_blank=True, trim_whitespace=False, required=False, default=""
        )
        kind = serializers.ChoiceField(
            choices=[Kind.TEXT, Kind.RICH_TEXT, Kind.IMAGE, Kind.AUDIO, Kind.FILE],
            required=False,
            help_text="Image, audio and file messages need attachment_id; the kind follows the file if omitted.",
        )
        sender = serializers.ChoiceField(
            choices=list(SENDERS),
            default="agent",
            help_text="`agent` (default), `bot`, or `contact` (only in conversations of the API channel).",
        )
        agent_id = serializers.IntegerField(
            required=False, min_value=1, help_text="With an API key: the agent the message is from."
        )
        attachment_id = serializers.IntegerField(required=False, min_value=1)
        client_msg_id = serializers.CharField(
            max_length=64, required=False, help_text="Idempotency key: a repeat returns the stored message (200)."
        )
        is_internal = serializers.BooleanField(default=False, help_text="An internal note (agents only).")

    @extend_schema(
        parameters=[MessageFilterSerializer], responses={200: MessagePage, **ERRORS}, operation_id="messages_list"
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        filters = self.MessageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        v = filters.validated_data
        internal = v["include_internal"]
        if "before_seq" in v:
            rows = selectors.message_history(
                conversation=conv, before_seq=v["before_seq"], limit=v["limit"] + 1, include_internal=internal
            )
            more = len(rows) > v["limit"]
            rows = rows[1:] if more else rows
            cursor = str(rows[0].seq) if more and rows else None
        else:
            rows = selectors.message_list(
                conversation=conv, after_seq=v.get("after_seq", 0), limit=v["limit"] + 1, include_internal=internal
            )
            more = len(rows) > v["limit"]
            rows = rows[: v["limit"]]
            cursor = str(rows[-1].seq) if more and rows else None
        return Response(page_response([message_out(m) for m in rows], cursor))

    @extend_schema(
        request=MessageCreateSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer, **WRITE_ERRORS},
        operation_id="messages_create",
        description="Send a message. Agents' and bots' messages reach the contact live (widget) or through "
        "webhooks (API channel); a contact's message (API channel) reaches agents live. A repeated "
        "`client_msg_id` returns the message stored the first time, with 200.",
        examples=[
            OpenApiExample("Agent reply", value={"body": "Your order shipped today.", "client_msg_id": "crm-7781"}),
            OpenApiExample("Internal note", value={"body": "VIP, refund approved", "is_internal": True}),
            OpenApiExample(
                "From the contact (API channel)", value={"sender": "contact", "body": "Hi", "client_msg_id": "wx-1"}
            ),
        ],
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = self.conversation(conversation_id)
        data = self.MessageCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        sender = SENDERS[v["sender"]]
        agent = request_agent(request)
        if agent is not None and sender != SenderType.AGENT:
            raise InvalidInput(_("A signed-in agent sends as an agent."), code="bad_sender")
        if sender == SenderType.VISITOR and conv.channel != Channel.API:
            raise Conflict(_("Only conversations of the API channel take contact messages."), code="not_api_channel")
        if agent is None and sender == SenderType.AGENT and v.get("agent_id"):
            agent = access.access_agent(tenant=conv.tenant, agent_id=v["agent_id"])
        attachment = None
        kind = v.get("kind") or Kind.TEXT
        if v.get("attachment_id"):
            attachment = access.access_attachment(
                tenant=conv.tenant, attachment_id=v["attachment_id"], agent=request_agent(request)
            )
            if not v.get("kind"):
                from kefu.services.attachments import message_kind_for

                kind = message_kind_for(attachment.content_type)
        result = message_send(
            conversation=conv,
            sender_type=sender,
            agent=agent if sender == SenderType.AGENT else None,
            body=v["body"],
            kind=kind,
            client_msg_id=v.get("client_msg_id"),
            attachment=attachment,
            is_internal=v["is_internal"],
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(message_out(result.message), status=code)
