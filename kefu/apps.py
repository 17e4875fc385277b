"""Django app config for the core domain."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KefuConfig(AppConfig):
    name = "kefu"
    verbose_name = _("Customer service")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kefu import (
            checks,  # noqa: F401  (registers system checks)
            receivers,
        )

        receivers.connect()
