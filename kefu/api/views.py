"""REST views: parse, call one selector or service, return. Tenant comes from auth."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kefu import access, selectors
from kefu.api.auth import tenant_of
from kefu.api.serializers import ConversationSerializer, ErrorSerializer, MessageSerializer, VisitorSerializer
from kefu.models import Kind, SenderType, Status
from kefu.payloads import conversation_payload, message_payload, visitor_payload
from kefu.services.conversations import conversation_close, conversation_reopen
from kefu.services.messages import message_send


def _agent(request: Request) -> Any:
    return getattr(request, "agent", None)


class ConversationListApi(GenericAPIView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Status.choices, required=False)
        assignee_id = serializers.IntegerField(required=False, min_value=1)
        team_id = serializers.IntegerField(required=False, min_value=1)
        inbox_id = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=ConversationSerializer(many=True),
        operation_id="conversations_list",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.conversation_list(tenant=tenant_of(request), agent=_agent(request), **filters.validated_data)
        page = self.paginate_queryset(qs)
        assert page is not None  # REST_FRAMEWORK sets DEFAULT_PAGINATION_CLASS
        return self.get_paginated_response([conversation_payload(c) for c in page])


class ConversationDetailApi(APIView):
    @extend_schema(responses={200: ConversationSerializer, 404: ErrorSerializer}, operation_id="conversations_retrieve")
    def get(self, request: Request, conversation_id: int) -> Response:
        conv = access.access_conversation(
            tenant=tenant_of(request), conversation_id=conversation_id, agent=_agent(request)
        )
        return Response(conversation_payload(conv))


class MessageListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        after_seq = serializers.IntegerField(required=False, min_value=0, default=0)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)

    class MessageCreateInputSerializer(serializers.Serializer):
        body = serializers.CharField(max_length=10000, allow_blank=True, trim_whitespace=False)
        kind = serializers.ChoiceField(choices=[Kind.TEXT, Kind.RICH_TEXT], default=Kind.TEXT)
        client_msg_id = serializers.CharField(max_length=64, required=False)
        is_internal = serializers.BooleanField(default=False)

    InputSerializer = MessageCreateInputSerializer

    @extend_schema(
        parameters=[OpenApiParameter("after_seq", int), OpenApiParameter("limit", int)],
        responses={200: MessageSerializer(many=True), 404: ErrorSerializer},
        operation_id="messages_list",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conv = access.access_conversation(
            tenant=tenant_of(request), conversation_id=conversation_id, agent=_agent(request)
        )
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        messages = selectors.message_list(conversation=conv, **filters.validated_data)
        return Response([message_payload(m) for m in messages])

    @extend_schema(
        request=InputSerializer,
        responses={201: MessageSerializer, 200: MessageSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        operation_id="messages_create",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = access.access_conversation(
            tenant=tenant_of(request), conversation_id=conversation_id, agent=_agent(request)
        )
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = message_send(
            conversation=conv, sender_type=SenderType.AGENT, agent=_agent(request), **data.validated_data
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(message_payload(result.message), status=code)


class ConversationCloseApi(APIView):
    @extend_schema(
        request=None, responses={200: ConversationSerializer, 404: ErrorSerializer}, operation_id="conversations_close"
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = access.access_conversation(
            tenant=tenant_of(request), conversation_id=conversation_id, agent=_agent(request)
        )
        return Response(conversation_payload(conversation_close(conversation=conv, actor=_agent(request))))


class ConversationReopenApi(APIView):
    @extend_schema(
        request=None,
        responses={200: ConversationSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        operation_id="conversations_reopen",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conv = access.access_conversation(
            tenant=tenant_of(request), conversation_id=conversation_id, agent=_agent(request)
        )
        return Response(conversation_payload(conversation_reopen(conversation=conv, actor=_agent(request))))


class VisitorDetailApi(APIView):
    @extend_schema(responses={200: VisitorSerializer, 404: ErrorSerializer}, operation_id="visitors_retrieve")
    def get(self, request: Request, visitor_id: int) -> Response:
        visitor = access.access_visitor(tenant=tenant_of(request), visitor_id=visitor_id, agent=_agent(request))
        return Response(visitor_payload(visitor))
