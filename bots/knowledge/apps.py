"""Django app config for knowledge bases."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KnowledgeConfig(AppConfig):
    name = "bots.knowledge"
    label = "knowledge"
    verbose_name = _("Knowledge bases")
    default_auto_field = "django.db.models.BigAutoField"
