"""Django app config for bots."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = _("AI bots")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bots import receivers
        from bots.assist import assist_provider
        from kefu.console.assist import register_assist_provider

        receivers.connect()
        register_assist_provider(assist_provider)

        from kefu.console.extensions import register_settings_link

        register_settings_link(_("AI bots"), "ai_console:bots", key="ai-bots")
        register_settings_link(_("Knowledge bases"), "ai_console:knowledge", key="ai-knowledge")
