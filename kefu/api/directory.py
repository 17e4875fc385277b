"""REST: the team directory (agents, teams and members, tags, canned replies) and attachments."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from kefu import access
from kefu.api.auth import request_agent, tenant_of
from kefu.api.base import KefuApiView
from kefu.api.pagination import PageParams, keyset_page, page_response, page_serializer
from kefu.api.serializers import ErrorSerializer
from kefu.api.shapes import AttachmentSerializer
from kefu.errors import InvalidInput
from kefu.models import Agent, CannedReply, Presence, Role, Tag, Team
from kefu.payloads import attachment_payload
from kefu.services import directory as directory_services
from kefu.services.attachments import attachment_create
from kefu.views import serve_attachment

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class DirectoryApi(KefuApiView):
    scope_resource = "directory"
    # Changing the directory is the settings pages' job: owners and admins.
    scope_levels = {"POST": "admin", "PATCH": "admin", "PUT": "admin", "DELETE": "admin"}


# --- Agents ---------------------------------------------------------------------------
class AgentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    role = serializers.ChoiceField(choices=Role.choices)
    presence = serializers.ChoiceField(choices=Presence.choices)
    capacity = serializers.IntegerField()
    team_ids = serializers.ListField(child=serializers.IntegerField())
    is_active = serializers.BooleanField()


def agent_out(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.pk,
        "name": str(agent),
        "email": agent.user.email,
        "role": agent.role,
        "presence": agent.presence,
        "capacity": agent.capacity,
        "team_ids": sorted(t.pk for t in agent.teams.all()),
        "is_active": agent.is_active,
    }


AgentPage = page_serializer("AgentPage", AgentSerializer)


class AgentListApi(DirectoryApi):
    class AgentFilterSerializer(PageParams):
        presence = serializers.ChoiceField(choices=Presence.choices, required=False)
        team_id = serializers.IntegerField(required=False, min_value=1)
        is_active = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(parameters=[AgentFilterSerializer], responses={200: AgentPage, **ERRORS}, operation_id="agents_list")
    def get(self, request: Request) -> Response:
        filters = self.AgentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        v = dict(filters.validated_data)
        qs = Agent.objects.filter(tenant=tenant_of(request)).select_related("user").prefetch_related("teams")
        if v.get("presence"):
            qs = qs.filter(presence=v["presence"])
        if v.get("team_id"):
            qs = qs.filter(teams__id=v["team_id"])
        if v.get("is_active") is not None:
            qs = qs.filter(is_active=v["is_active"])
        rows, cursor = keyset_page(qs, v)
        return Response(page_response([agent_out(a) for a in rows], cursor))


class AgentDetailApi(DirectoryApi):
    @extend_schema(responses={200: AgentSerializer, **ERRORS}, operation_id="agents_retrieve")
    def get(self, request: Request, agent_id: int) -> Response:
        return Response(agent_out(access.access_agent(tenant=tenant_of(request), agent_id=agent_id)))


# --- Teams and members ------------------------------------------------------------------
class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    member_ids = serializers.ListField(child=serializers.IntegerField())


class TeamInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)


def team_out(team: Team) -> dict[str, Any]:
    return {"id": team.pk, "name": team.name, "member_ids": sorted(a.pk for a in team.agents.all())}


TeamPage = page_serializer("TeamPage", TeamSerializer)


class TeamListApi(DirectoryApi):
    @extend_schema(parameters=[PageParams], responses={200: TeamPage, **ERRORS}, operation_id="teams_list")
    def get(self, request: Request) -> Response:
        params = PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = Team.objects.filter(tenant=tenant_of(request)).prefetch_related("agents")
        rows, cursor = keyset_page(qs, dict(params.validated_data))
        return Response(page_response([team_out(t) for t in rows], cursor))

    @extend_schema(
        request=TeamInput, responses={201: TeamSerializer, **ERRORS, 409: ErrorSerializer}, operation_id="teams_create"
    )
    def post(self, request: Request) -> Response:
        data = TeamInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = directory_services.team_create(
            tenant=tenant_of(request), name=data.validated_data["name"], actor=request.user
        )
        return Response(team_out(team), status=status.HTTP_201_CREATED)


class TeamDetailApi(DirectoryApi):
    def team(self, team_id: object) -> Team:
        return access.access_team(tenant=tenant_of(self.request), team_id=team_id)

    @extend_schema(responses={200: TeamSerializer, **ERRORS}, operation_id="teams_retrieve")
    def get(self, request: Request, team_id: int) -> Response:
        return Response(team_out(self.team(team_id)))

    @extend_schema(
        request=TeamInput, responses={200: TeamSerializer, **ERRORS, 409: ErrorSerializer}, operation_id="teams_update"
    )
    def patch(self, request: Request, team_id: int) -> Response:
        team = self.team(team_id)
        data = TeamInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = directory_services.team_rename(team=team, name=data.validated_data["name"], actor=request.user)
        return Response(team_out(team))

    @extend_schema(request=None, responses={204: None, **ERRORS}, operation_id="teams_delete")
    def delete(self, request: Request, team_id: int) -> Response:
        directory_services.team_remove(team=self.team(team_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMembersApi(DirectoryApi):
    class MemberSerializer(serializers.Serializer):
        agent_id = serializers.IntegerField(min_value=1)

    @extend_schema(
        request=MemberSerializer, responses={200: TeamSerializer, **ERRORS}, operation_id="teams_members_add"
    )
    def post(self, request: Request, team_id: int) -> Response:
        tenant = tenant_of(request)
        team = access.access_team(tenant=tenant, team_id=team_id)
        data = self.MemberSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        agent = access.access_agent(tenant=tenant, agent_id=data.validated_data["agent_id"])
        directory_services.team_member_add(team=team, agent=agent, actor=request.user)
        return Response(team_out(team))


class TeamMemberApi(DirectoryApi):
    @extend_schema(request=None, responses={204: None, **ERRORS}, operation_id="teams_members_remove")
    def delete(self, request: Request, team_id: int, agent_id: int) -> Response:
        tenant = tenant_of(request)
        team = access.access_team(tenant=tenant, team_id=team_id)
        agent = access.access_agent(tenant=tenant, agent_id=agent_id)
        directory_services.team_member_remove(team=team, agent=agent, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Tags -------------------------------------------------------------------------------
class TagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()


class TagInput(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False, help_text="Like #1677ff.")


def tag_out(tag: Tag) -> dict[str, Any]:
    return {"id": tag.pk, "name": tag.name, "color": tag.color}


TagPage = page_serializer("TagPage", TagSerializer)


class TagListApi(DirectoryApi):
    @extend_schema(parameters=[PageParams], responses={200: TagPage, **ERRORS}, operation_id="tags_list")
    def get(self, request: Request) -> Response:
        params = PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows, cursor = keyset_page(Tag.objects.filter(tenant=tenant_of(request)), dict(params.validated_data))
        return Response(page_response([tag_out(t) for t in rows], cursor))

    @extend_schema(
        request=TagInput, responses={201: TagSerializer, **ERRORS, 409: ErrorSerializer}, operation_id="tags_create"
    )
    def post(self, request: Request) -> Response:
        data = TagInput(data=request.data)
        data.is_valid(raise_exception=True)
        tag = directory_services.tag_save(tenant=tenant_of(request), actor=request.user, **data.validated_data)
        return Response(tag_out(tag), status=status.HTTP_201_CREATED)


class TagDetailApi(DirectoryApi):
    def tag(self, tag_id: object) -> Tag:
        return access.access_tag(tenant=tenant_of(self.request), tag_id=tag_id)

    @extend_schema(responses={200: TagSerializer, **ERRORS}, operation_id="tags_retrieve")
    def get(self, request: Request, tag_id: int) -> Response:
        return Response(tag_out(self.tag(tag_id)))

    @extend_schema(
        request=TagInput, responses={200: TagSerializer, **ERRORS, 409: ErrorSerializer}, operation_id="tags_update"
    )
    def patch(self, request: Request, tag_id: int) -> Response:
        tag = self.tag(tag_id)
        data = TagInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tag = directory_services.tag_save(tenant=tag.tenant, tag=tag, actor=request.user, **data.validated_data)
        return Response(tag_out(tag))

    @extend_schema(request=None, responses={204: None, **ERRORS}, operation_id="tags_delete")
    def delete(self, request: Request, tag_id: int) -> Response:
        directory_services.tag_delete(tag=self.tag(tag_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Canned replies ---------------------------------------------------------------------
class CannedReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    shortcut = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()


class CannedReplyInput(serializers.Serializer):
    shortcut = serializers.SlugField(max_length=40, allow_unicode=True)
    title = serializers.CharField(max_length=120)
    body = serializers.CharField(max_length=5000)


def canned_out(c: CannedReply) -> dict[str, Any]:
    return {"id": c.pk, "shortcut": c.shortcut, "title": c.title, "body": c.body}


CannedPage = page_serializer("CannedReplyPage", CannedReplySerializer)


class CannedReplyListApi(DirectoryApi):
    @extend_schema(parameters=[PageParams], responses={200: CannedPage, **ERRORS}, operation_id="canned_replies_list")
    def get(self, request: Request) -> Response:
        params = PageParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows, cursor = keyset_page(CannedReply.objects.filter(tenant=tenant_of(request)), dict(params.validated_data))
        return Response(page_response([canned_out(c) for c in rows], cursor))

    @extend_schema(
        request=CannedReplyInput,
        responses={201: CannedReplySerializer, **ERRORS, 409: ErrorSerializer},
        operation_id="canned_replies_create",
    )
    def post(self, request: Request) -> Response:
        data = CannedReplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        canned = directory_services.canned_reply_write(
            tenant=tenant_of(request), actor=request.user, **data.validated_data
        )
        return Response(canned_out(canned), status=status.HTTP_201_CREATED)


class CannedReplyDetailApi(DirectoryApi):
    def canned(self, canned_id: object) -> CannedReply:
        return access.access_canned_reply(tenant=tenant_of(self.request), canned_reply_id=canned_id)

    @extend_schema(responses={200: CannedReplySerializer, **ERRORS}, operation_id="canned_replies_retrieve")
    def get(self, request: Request, canned_reply_id: int) -> Response:
        return Response(canned_out(self.canned(canned_reply_id)))

    @extend_schema(
        request=CannedReplyInput,
        responses={200: CannedReplySerializer, **ERRORS, 409: ErrorSerializer},
        operation_id="canned_replies_update",
    )
    def patch(self, request: Request, canned_reply_id: int) -> Response:
        canned = self.canned(canned_reply_id)
        data = CannedReplyInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {"shortcut": canned.shortcut, "title": canned.title, "body": canned.body, **data.validated_data}
        canned = directory_services.canned_reply_write(
            tenant=canned.tenant, canned=canned, actor=request.user, **values
        )
        return Response(canned_out(canned))

    @extend_schema(request=None, responses={204: None, **ERRORS}, operation_id="canned_replies_delete")
    def delete(self, request: Request, canned_reply_id: int) -> Response:
        directory_services.canned_reply_remove(canned=self.canned(canned_reply_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Attachments ------------------------------------------------------------------------
class AttachmentsApi(KefuApiView):
    scope_resource = "attachments"


class AttachmentUploadApi(AttachmentsApi):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "AttachmentUpload",
                {"file": serializers.FileField(), "conversation_id": serializers.IntegerField(required=False)},
            )
        },
        responses={201: AttachmentSerializer, **ERRORS, 413: ErrorSerializer},
        operation_id="attachments_upload",
        description="Upload a file, then send it with `attachment_id` in `POST /conversations/{id}/messages/`. "
        "The type is sniffed from the bytes; the tenant's size limit applies.",
    )
    def post(self, request: Request) -> Response:
        tenant = tenant_of(request)
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput(fields={"file": ["Attach a file in the field 'file'."]}, code="invalid")
        conv = None
        raw = request.POST.get("conversation_id")
        if raw:
            conv = access.access_conversation(tenant=tenant, conversation_id=raw, agent=request_agent(request))
        limit = tenant.max_upload_mb * 1024 * 1024
        attachment = attachment_create(
            tenant=tenant, data=upload.read(limit + 1), filename=upload.name or "", conversation=conv
        )
        return Response(attachment_payload(attachment), status=status.HTTP_201_CREATED)


class AttachmentDetailApi(AttachmentsApi):
    @extend_schema(responses={200: AttachmentSerializer, **ERRORS}, operation_id="attachments_retrieve")
    def get(self, request: Request, attachment_id: int) -> Response:
        attachment = access.access_attachment(
            tenant=tenant_of(request), attachment_id=attachment_id, agent=request_agent(request)
        )
        return Response(attachment_payload(attachment))


class AttachmentDownloadApi(AttachmentsApi):
    @extend_schema(responses={(200, "application/octet-stream"): bytes, **ERRORS}, operation_id="attachments_download")
    def get(self, request: Request, attachment_id: int) -> FileResponse:
        attachment = access.access_attachment(
            tenant=tenant_of(request), attachment_id=attachment_id, agent=request_agent(request)
        )
        return serve_attachment(attachment)
