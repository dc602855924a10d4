from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "muster.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from muster.core import audit  # noqa: F401 — connects the login/logout/failure receivers
