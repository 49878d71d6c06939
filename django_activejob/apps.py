from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActiveJobConfig(AppConfig):
    name = "django_activejob"
    verbose_name = _("Active Job")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect the log receivers and register the system checks.
        from . import checks, log  # noqa: F401
