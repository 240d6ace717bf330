"""The audit trail: one row per state change, saying who did what to which object, when and from where."""

from django.conf import settings
from django.db import models

from quorum.tenancy.scoping import TenantOwned


class AuditEvent(TenantOwned):
    # The actor row may be deleted later; actor_label keeps who it was readable forever.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100, db_index=True)  # "api_key.create", "job.cancel"
    object_type = models.CharField(max_length=100, blank=True)  # "tenancy.apikey"
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="audit_tenant_recent")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label or 'system'} {self.action}"
