"""HTTP endpoints the widget calls (bootstrap, history, uploads); see docs/protocol.md."""

from django.urls import path

from kefu import widget_views

urlpatterns: list = [
    path("api/bootstrap", widget_views.bootstrap, name="widget-bootstrap"),
    path("api/messages", widget_views.messages, name="widget-messages"),
    path("api/upload", widget_views.upload, name="widget-upload"),
    path("api/close", widget_views.close, name="widget-close"),
    path("api/attachments/<int:attachment_id>", widget_views.attachment, name="widget-attachment"),
]
