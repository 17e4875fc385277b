"""REST: webhook subscriptions and their delivery log (admin level)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from kefu import access
from kefu.api.auth import tenant_of
from kefu.api.base import KefuApiView
from kefu.api.pagination import PageParams, keyset_page, page_response, page_serializer
from kefu.api.serializers import ErrorSerializer
from kefu.models import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription
from kefu.services import webhooks as webhook_services

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
EVENTS = [e for e in WebhookEvent.values if e != WebhookEvent.PING]


class WebhooksApi(KefuApiView):
    scope_resource = "webhooks"
    scope_levels = {"GET": "admin", "POST": "admin", "PATCH": "admin", "PUT": "admin", "DELETE": "admin"}


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField(allow_blank=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENTS))
    include_internal = serializers.BooleanField()
    is_active = serializers.BooleanField()
    consecutive_failures = serializers.IntegerField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    secret = serializers.CharField(
        required=False, help_text="Only when created or rotated: keep it to verify signatures."
    )


class WebhookInput(serializers.Serializer):
    url = serializers.URLField(max_length=1000)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENTS), required=False, help_text="Empty or absent: every event."
    )
    include_internal = serializers.BooleanField(required=False, default=False)


class WebhookUpdateInput(WebhookInput):
    url = serializers.URLField(max_length=1000, required=False)
    include_internal = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False, help_text="true re-enables a disabled webhook.")
    rotate_secret = serializers.BooleanField(required=False, default=False)


def webhook_out(sub: WebhookSubscription, secret: str | None = None) -> dict[str, Any]:
    data = {
        "id": sub.pk,
        "url": sub.url,
        "description": sub.description,
        "events": sub.events,
        "include_internal": sub.include_internal,
        "is_active": sub.is_active,
        "consecutive_failures": sub.consecutive_failures,
        "disabled_at": sub.disabled_at.isoformat() if sub.disabled_at else None,
        "disabled_reason": sub.disabled_reason,
        "created_at": sub.created_at.isoformat(),
    }
    if secret:
        data["secret"] = secret
    return data


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    webhook_id = serializers.IntegerField()
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    response_ms = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.DictField()


def delivery_out(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.pk,
        "webhook_id": d.subscription_id,
        "event": d.event,
        "status": d.status,
        "attempts": d.attempts,
        "response_status": d.response_status,
        "response_ms": d.response_ms,
        "last_error": d.last_error,
        "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        "created_at": d.created_at.isoformat(),
        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        "payload": d.payload,
    }


WebhookPage = page_serializer("WebhookPage", WebhookSerializer)
DeliveryPage = page_serializer("WebhookDeliveryPage", DeliverySerializer)


class WebhookListApi(WebhooksApi):
    @extend_schema(parameters=[PageParams], responses={200: WebhookPage, **ERRORS}, operation_id="webhooks_list")
    def get(self, request: Request) -> Response:
        params = PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = WebhookSubscription.objects.filter(tenant=tenant_of(request))
        rows, cursor = keyset_page(qs, dict(params.validated_data))
        return Response(page_response([webhook_out(s) for s in rows], cursor))

    @extend_schema(
        request=WebhookInput,
        responses={201: WebhookSerializer, **ERRORS},
        operation_id="webhooks_create",
        description="Subscribe a URL. The answer carries the signing secret, once.",
        examples=[
            OpenApiExample(
                "Bridge",
                value={"url": "https://bridge.example.com/kefu", "events": ["message.created", "conversation.closed"]},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        sub, secret = webhook_services.webhook_create(
            tenant=tenant_of(request), actor=request.user, **data.validated_data
        )
        return Response(webhook_out(sub, secret), status=status.HTTP_201_CREATED)


class WebhookDetailApi(WebhooksApi):
    def subscription(self, webhook_id: object) -> WebhookSubscription:
        return access.access_webhook(tenant=tenant_of(self.request), webhook_id=webhook_id)

    @extend_schema(responses={200: WebhookSerializer, **ERRORS}, operation_id="webhooks_retrieve")
    def get(self, request: Request, webhook_id: int) -> Response:
        return Response(webhook_out(self.subscription(webhook_id)))

    @extend_schema(
        request=WebhookUpdateInput, responses={200: WebhookSerializer, **ERRORS}, operation_id="webhooks_update"
    )
    def patch(self, request: Request, webhook_id: int) -> Response:
        sub = self.subscription(webhook_id)
        data = WebhookUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        rotate = changes.pop("rotate_secret", False)
        sub = webhook_services.webhook_update(subscription=sub, actor=request.user, **changes)
        secret = webhook_services.webhook_rotate_secret(subscription=sub, actor=request.user) if rotate else None
        return Response(webhook_out(sub, secret))

    @extend_schema(request=None, responses={204: None, **ERRORS}, operation_id="webhooks_delete")
    def delete(self, request: Request, webhook_id: int) -> Response:
        webhook_services.webhook_delete(subscription=self.subscription(webhook_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookPingApi(WebhooksApi):
    @extend_schema(request=None, responses={202: DeliverySerializer, **ERRORS}, operation_id="webhooks_ping")
    def post(self, request: Request, webhook_id: int) -> Response:
        sub = access.access_webhook(tenant=tenant_of(request), webhook_id=webhook_id)
        delivery = webhook_services.webhook_ping(subscription=sub, actor=request.user)
        return Response(delivery_out(delivery), status=status.HTTP_202_ACCEPTED)


class DeliveryListApi(WebhooksApi):
    class FilterSerializer(PageParams):
        status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
        event = serializers.CharField(required=False, max_length=40)

    @extend_schema(
        parameters=[FilterSerializer], responses={200: DeliveryPage, **ERRORS}, operation_id="webhooks_deliveries"
    )
    def get(self, request: Request, webhook_id: int) -> Response:
        sub = access.access_webhook(tenant=tenant_of(request), webhook_id=webhook_id)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        v = dict(filters.validated_data)
        qs = WebhookDelivery.objects.filter(subscription=sub)
        if v.get("status"):
            qs = qs.filter(status=v["status"])
        if v.get("event"):
            qs = qs.filter(event=v["event"])
        rows, cursor = keyset_page(qs, v)
        return Response(page_response([delivery_out(d) for d in rows], cursor))


class DeliveryRedeliverApi(WebhooksApi):
    @extend_schema(
        request=None,
        responses={202: DeliverySerializer, **ERRORS},
        operation_id="webhooks_redeliver",
        description="Send a delivery again (a new delivery with the same payload; the log keeps both).",
    )
    def post(self, request: Request, delivery_id: int) -> Response:
        delivery = access.access_webhook_delivery(tenant=tenant_of(request), delivery_id=delivery_id)
        copy = webhook_services.webhook_redeliver(delivery=delivery, actor=request.user)
        return Response(delivery_out(copy), status=status.HTTP_202_ACCEPTED)
