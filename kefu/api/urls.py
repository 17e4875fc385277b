"""Routes of the REST API v1."""

from django.urls import path

from kefu.api import console_views, contacts, conversations, directory, webhooks

C = "conversations/<int:conversation_id>/"
CT = "contacts/<int:contact_id>/"

urlpatterns = [
    path("conversations/", conversations.ConversationListApi.as_view(), name="api-conversations"),
    path(C, conversations.ConversationDetailApi.as_view(), name="api-conversation"),
    path(C + "assign/", conversations.ConversationAssignApi.as_view(), name="api-assign"),
    path(C + "transfer/", conversations.ConversationTransferApi.as_view(), name="api-transfer"),
    path(C + "close/", conversations.ConversationCloseApi.as_view(), name="api-close"),
    path(C + "reopen/", conversations.ConversationReopenApi.as_view(), name="api-reopen"),
    path(C + "read/", conversations.ConversationReadApi.as_view(), name="api-read"),
    path(C + "tags/", conversations.ConversationTagsApi.as_view(), name="api-conversation-tags"),
    path(C + "tags/<int:tag_id>/", conversations.ConversationTagApi.as_view(), name="api-conversation-tag"),
    path(C + "messages/", conversations.MessageListApi.as_view(), name="api-messages"),
    path("contacts/", contacts.ContactListApi.as_view(), name="api-contacts"),
    path(CT, contacts.ContactDetailApi.as_view(), name="api-contact"),
    path(CT + "merge/", contacts.ContactMergeApi.as_view(), name="api-contact-merge"),
    path(CT + "export/", contacts.ContactExportApi.as_view(), name="api-contact-export"),
    path(CT + "conversations/", contacts.ContactConversationsApi.as_view(), name="api-contact-conversations"),
    path("attachments/", directory.AttachmentUploadApi.as_view(), name="api-attachments"),
    path("attachments/<int:attachment_id>/", directory.AttachmentDetailApi.as_view(), name="api-attachment"),
    path(
        "attachments/<int:attachment_id>/download/",
        directory.AttachmentDownloadApi.as_view(),
        name="api-attachment-download",
    ),
    path("agents/", directory.AgentListApi.as_view(), name="api-agents"),
    path("agents/<int:agent_id>/", directory.AgentDetailApi.as_view(), name="api-agent"),
    path("teams/", directory.TeamListApi.as_view(), name="api-teams"),
    path("teams/<int:team_id>/", directory.TeamDetailApi.as_view(), name="api-team"),
    path("teams/<int:team_id>/members/", directory.TeamMembersApi.as_view(), name="api-team-members"),
    path("teams/<int:team_id>/members/<int:agent_id>/", directory.TeamMemberApi.as_view(), name="api-team-member"),
    path("tags/", directory.TagListApi.as_view(), name="api-tags"),
    path("tags/<int:tag_id>/", directory.TagDetailApi.as_view(), name="api-tag"),
    path("canned-replies/", directory.CannedReplyListApi.as_view(), name="api-canned-replies"),
    path("canned-replies/<int:canned_reply_id>/", directory.CannedReplyDetailApi.as_view(), name="api-canned-reply"),
    path("webhooks/", webhooks.WebhookListApi.as_view(), name="api-webhooks"),
    path("webhooks/<int:webhook_id>/", webhooks.WebhookDetailApi.as_view(), name="api-webhook"),
    path("webhooks/<int:webhook_id>/ping/", webhooks.WebhookPingApi.as_view(), name="api-webhook-ping"),
    path("webhooks/<int:webhook_id>/deliveries/", webhooks.DeliveryListApi.as_view(), name="api-webhook-deliveries"),
    path(
        "webhooks/deliveries/<int:delivery_id>/redeliver/",
        webhooks.DeliveryRedeliverApi.as_view(),
        name="api-webhook-redeliver",
    ),
    # The agent console (session agents only).
    path("console/inbox/", console_views.InboxApi.as_view(), name="console-inbox"),
    path("console/meta/", console_views.MetaApi.as_view(), name="console-meta"),
    path("console/canned-replies/", console_views.CannedRepliesApi.as_view(), name="console-canned"),
    path(
        "console/conversations/<int:conversation_id>/",
        console_views.ConversationApi.as_view(),
        name="console-conversation",
    ),
    path(
        "console/conversations/<int:conversation_id>/history/",
        console_views.HistoryApi.as_view(),
        name="console-history",
    ),
    path("console/conversations/<int:conversation_id>/tags/", console_views.TagsApi.as_view(), name="console-tags"),
    path(
        "console/conversations/<int:conversation_id>/tags/<int:tag_id>/",
        console_views.TagDeleteApi.as_view(),
        name="console-tag",
    ),
    path(
        "console/conversations/<int:conversation_id>/transfer/",
        console_views.TransferApi.as_view(),
        name="console-transfer",
    ),
    path(
        "console/conversations/<int:conversation_id>/take-over/",
        console_views.TakeOverApi.as_view(),
        name="console-take-over",
    ),
    path(
        "console/conversations/<int:conversation_id>/hand-back/",
        console_views.HandBackApi.as_view(),
        name="console-hand-back",
    ),
    path(
        "console/conversations/<int:conversation_id>/upload/", console_views.UploadApi.as_view(), name="console-upload"
    ),
    path(
        "console/conversations/<int:conversation_id>/assist/", console_views.AssistApi.as_view(), name="console-assist"
    ),
    path("console/visitors/<int:visitor_id>/", console_views.VisitorApi.as_view(), name="console-visitor"),
]
