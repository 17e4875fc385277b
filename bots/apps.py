"""Django app config for bots."""

import sys
from typing import Any

import httpx2
from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class BotsConfig(AppConfig):
    name = "bots"
    verbose_name = _("AI bots")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from bots import receivers
        from bots.assist import assist_provider
        from bots.providers.base import set_http_backend
        from kefu.console.assist import register_assist_provider

        set_http_backend(settings.KEFU_BOT_HTTP_BACKEND)
        receivers.connect()
        register_assist_provider(assist_provider)
        self._guard_provider_http()

        from kefu.console.extensions import register_settings_link

        register_settings_link(_("AI bots"), "ai_console:bots", key="ai-bots")
        register_settings_link(_("Knowledge bases"), "ai_console:knowledge", key="ai-knowledge")

        self._warm_retrieval_at_start()

    @staticmethod
    def _guard_provider_http() -> None:
        """Provider calls go through the SSRF-guarded client; the provider layer reads no settings."""
        from bots.providers.base import configure_http
        from kefu import outbound

        def provider_client(options: dict[str, Any]) -> httpx2.AsyncClient:
            # The allow-list is read on each new connection: settings changed at run time apply.
            return outbound.async_client(allowlist=outbound.settings_allowlist, **options)

        configure_http(provider_client)

    @staticmethod
    def _warm_retrieval_at_start() -> None:
        """Processes that answer visitors load the retrieval dictionaries before the first question."""
        from celery.signals import worker_process_init, worker_ready

        from bots.knowledge.text import warm_up_in_background

        def on_worker_start(**_kwargs: object) -> None:
            warm_up_in_background()

        # worker_ready: the thread pool of the deploy's worker role; worker_process_init: prefork children.
        worker_ready.connect(on_worker_start, weak=False, dispatch_uid="bots.kb_warm_up.ready")
        worker_process_init.connect(on_worker_start, weak=False, dispatch_uid="bots.kb_warm_up.init")
        # The embedded default answers in-process; other manage.py commands (and tests) skip it.
        if settings.KEFU_TASKS_MODE == "thread" and sys.argv[1:2] in (["run_demo"], ["runserver"]):
            warm_up_in_background()
