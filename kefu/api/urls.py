"""Routes of the REST API v1."""

from django.urls import path

from kefu.api import views

urlpatterns = [
    path("conversations/", views.ConversationListApi.as_view(), name="api-conversations"),
    path("conversations/<int:conversation_id>/", views.ConversationDetailApi.as_view(), name="api-conversation"),
    path("conversations/<int:conversation_id>/messages/", views.MessageListApi.as_view(), name="api-messages"),
    path("conversations/<int:conversation_id>/close/", views.ConversationCloseApi.as_view(), name="api-close"),
    path("conversations/<int:conversation_id>/reopen/", views.ConversationReopenApi.as_view(), name="api-reopen"),
    path("visitors/<int:visitor_id>/", views.VisitorDetailApi.as_view(), name="api-visitor"),
]
