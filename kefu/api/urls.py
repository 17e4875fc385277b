"""Routes of the REST API v1."""

from django.urls import path

from kefu.api import console_views, views

urlpatterns = [
    path("conversations/", views.ConversationListApi.as_view(), name="api-conversations"),
    path("conversations/<int:conversation_id>/", views.ConversationDetailApi.as_view(), name="api-conversation"),
    path("conversations/<int:conversation_id>/messages/", views.MessageListApi.as_view(), name="api-messages"),
    path("conversations/<int:conversation_id>/close/", views.ConversationCloseApi.as_view(), name="api-close"),
    path("conversations/<int:conversation_id>/reopen/", views.ConversationReopenApi.as_view(), name="api-reopen"),
    path("visitors/<int:visitor_id>/", views.VisitorDetailApi.as_view(), name="api-visitor"),
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
