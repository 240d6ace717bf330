from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "quorum.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Connects the sign-in/sign-out receivers (they register on import).
        from quorum.audit import signals  # noqa: F401
