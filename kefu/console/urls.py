"""Routes of the agent console."""

from django.urls import path

from kefu.console import views

urlpatterns: list = [
    path("", views.console, name="console"),
    path("settings/", views.settings_page, {"section": "widget"}, name="console-settings-home"),
    path("settings/<slug:section>/", views.settings_page, name="console-settings"),
]
