from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "quorum.audit"
    label = "audit"
    verbose_name = "Audit trail"
