"""Routes of the AI console pages, mounted at /console/ai/ by the project's urls."""

from django.urls import path
from django.views.generic import RedirectView

from bots.console import bot_views, views

app_name = "ai_console"

urlpatterns: list = [
    path("", RedirectView.as_view(pattern_name="ai_console:bots", permanent=False), name="home"),
    path("knowledge/", views.knowledge_list, name="knowledge"),
    path("knowledge/<int:kb_id>/", views.knowledge_detail, name="knowledge-detail"),
    path("knowledge/<int:kb_id>/progress", views.knowledge_progress, name="knowledge-progress"),
    path("bots/", bot_views.bot_list, name="bots"),
    path("bots/new/", bot_views.bot_edit, name="bot-new"),
    path("bots/<int:bot_id>/", bot_views.bot_edit, name="bot-edit"),
    path("bots/<int:bot_id>/test/", bot_views.bot_test, name="bot-test"),
    path("hooks/new/", bot_views.integration_edit, {"kind": "hooks"}, name="hook-new"),
    path("hooks/<int:row_id>/", bot_views.integration_edit, {"kind": "hooks"}, name="hook-edit"),
    path("alerts/new/", bot_views.integration_edit, {"kind": "alerts"}, name="alert-new"),
    path("alerts/<int:row_id>/", bot_views.integration_edit, {"kind": "alerts"}, name="alert-edit"),
]
