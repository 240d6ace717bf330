from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "quorum.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Registers the Api-Key scheme with drf-spectacular (extensions register on import).
        from quorum.api import schema  # noqa: F401
