"""REST: contacts (the people who talk to the tenant: widget visitors and API contacts)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from kefu import access, selectors
from kefu.api.auth import request_agent, tenant_of
from kefu.api.base import KefuApiView
from kefu.api.conversations import ConversationPage
from kefu.api.pagination import PageParams, keyset_page, page_response, page_serializer
from kefu.api.serializers import ErrorSerializer
from kefu.api.shapes import ContactSerializer, contact_out, conversation_out
from kefu.errors import Forbidden
from kefu.models import Visitor
from kefu.services import contacts as contact_services
from kefu.services.visitors import visitor_update

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
ContactPage = page_serializer("ContactPage", ContactSerializer)


class ContactsApi(KefuApiView):
    scope_resource = "contacts"

    def contact(self, contact_id: object) -> Visitor:
        return access.access_visitor(
            tenant=tenant_of(self.request), visitor_id=contact_id, agent=request_agent(self.request)
        )


class ContactInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=120)
    email = serializers.EmailField(required=False, allow_blank=True)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    attributes = serializers.DictField(required=False, help_text="At most 50 keys; merged into the stored ones.")


class ContactCreateInput(ContactInput):
    external_id = serializers.CharField(
        required=False, max_length=128, help_text="Your system's user id (API keys only): a verified identity."
    )


class ContactListApi(ContactsApi):
    class ContactFilterSerializer(PageParams):
        q = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="Name, e-mail or phone.")
        email = serializers.CharField(required=False, max_length=254)
        phone = serializers.CharField(required=False, max_length=40)
        external_id = serializers.CharField(required=False, max_length=128)
        identity_verified = serializers.BooleanField(required=False, allow_null=True, default=None)
        seen_after = serializers.DateTimeField(required=False)
        seen_before = serializers.DateTimeField(required=False)

    @extend_schema(
        parameters=[ContactFilterSerializer], responses={200: ContactPage, **ERRORS}, operation_id="contacts_list"
    )
    def get(self, request: Request) -> Response:
        filters = self.ContactFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        v = dict(filters.validated_data)
        page = {k: v.pop(k) for k in ("cursor", "limit", "order") if k in v}
        qs = access.visitors_for(tenant=tenant_of(request), agent=request_agent(request)).filter(merged_into=None)
        q = (v.get("q") or "").strip()
        if q:
            qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(phone__icontains=q))
        for name in ("email", "phone", "external_id"):
            if v.get(name):
                qs = qs.filter(**{f"{name}__iexact" if name == "email" else name: v[name]})
        if v.get("identity_verified") is not None:
            qs = qs.filter(identity_verified=v["identity_verified"])
        if v.get("seen_after"):
            qs = qs.filter(last_seen_at__gte=v["seen_after"])
        if v.get("seen_before"):
            qs = qs.filter(last_seen_at__lt=v["seen_before"])
        rows, cursor = keyset_page(qs, page)
        return Response(page_response([contact_out(c) for c in rows], cursor))

    @extend_schema(
        request=ContactCreateInput,
        responses={201: ContactSerializer, **ERRORS, 409: ErrorSerializer},
        operation_id="contacts_create",
        examples=[
            OpenApiExample(
                "From a CRM",
                value={
                    "name": "王芳",
                    "email": "fang@example.com",
                    "external_id": "crm-881",
                    "attributes": {"plan": "pro"},
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = ContactCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        if v.get("external_id") and request_agent(request) is not None:
            raise Forbidden(_("Only an API key vouches for an external id."), code="forbidden")
        contact = contact_services.contact_create(tenant=tenant_of(request), actor=request.user, **v)
        return Response(contact_out(contact), status=status.HTTP_201_CREATED)


class ContactDetailApi(ContactsApi):
    scope_levels = {"DELETE": "admin"}

    @extend_schema(responses={200: ContactSerializer, **ERRORS}, operation_id="contacts_retrieve")
    def get(self, request: Request, contact_id: int) -> Response:
        return Response(contact_out(self.contact(contact_id)))

    @extend_schema(request=ContactInput, responses={200: ContactSerializer, **ERRORS}, operation_id="contacts_update")
    def patch(self, request: Request, contact_id: int) -> Response:
        contact = self.contact(contact_id)
        data = ContactInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(contact_out(visitor_update(visitor=contact, **data.validated_data)))

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "ContactErased",
                {
                    "erased": serializers.BooleanField(),
                    "conversations": serializers.IntegerField(),
                    "messages": serializers.IntegerField(),
                    "files": serializers.IntegerField(),
                    "audit_id": serializers.IntegerField(),
                },
            ),
            **ERRORS,
        },
        operation_id="contacts_erase",
        description="Right to erasure (PIPL/GDPR): the contact's profile, the content of every message of "
        "their conversations and their attachment files on disk are removed before the answer; counts and "
        "times stay for reports; an audit record is kept. Needs the `admin` level.",
    )
    def delete(self, request: Request, contact_id: int) -> Response:
        contact = self.contact(contact_id)
        result = contact_services.contact_erase(contact=contact, actor=request.user, ip=request.META.get("REMOTE_ADDR"))
        return Response({"erased": True, **result})


class ContactMergeApi(ContactsApi):
    scope_levels = {"POST": "admin"}

    class MergeSerializer(serializers.Serializer):
        contact_id = serializers.IntegerField(min_value=1, help_text="The contact merged into this one.")

    @extend_schema(
        request=MergeSerializer,
        responses={200: ContactSerializer, **ERRORS, 409: ErrorSerializer},
        operation_id="contacts_merge",
        description="The two contacts become one with every conversation of both. If only one has a "
        "verified identity (external id), it survives whichever was named in the URL. Needs `admin`.",
    )
    def post(self, request: Request, contact_id: int) -> Response:
        target = self.contact(contact_id)
        data = self.MergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source = self.contact(data.validated_data["contact_id"])
        merged = contact_services.contact_merge(target=target, source=source, actor=request.user)
        return Response(contact_out(merged))


class ContactExportApi(ContactsApi):
    @extend_schema(
        responses={
            200: inline_serializer(
                "ContactExport", {"contact": ContactSerializer(), "conversations": serializers.ListField()}
            ),
            **ERRORS,
        },
        operation_id="contacts_export",
        description="Everything stored about one contact, as JSON (messages the contact could see).",
    )
    def get(self, request: Request, contact_id: int) -> Response:
        return Response(contact_services.contact_export(contact=self.contact(contact_id)))


class ContactConversationsApi(ContactsApi):
    @extend_schema(
        parameters=[PageParams], responses={200: ConversationPage, **ERRORS}, operation_id="contacts_conversations"
    )
    def get(self, request: Request, contact_id: int) -> Response:
        contact = self.contact(contact_id)
        params = PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.conversation_list(tenant=tenant_of(request), agent=request_agent(request), contact_id=contact.pk)
        rows, cursor = keyset_page(qs.prefetch_related("tags"), dict(params.validated_data))
        return Response(page_response([conversation_out(c) for c in rows], cursor))


__all__: list[Any] = []
