"""Idempotency records: the first response to each (tenant, Idempotency-Key, path), kept 24 hours."""

from django.db import models

from quorum.tenancy.scoping import TenantOwned


class IdempotencyRecord(TenantOwned):
    key = models.CharField(max_length=255)
    path = models.CharField(max_length=500)
    # SHA-256 of the canonical request body: the same key with another body is refused (422).
    request_fingerprint = models.CharField(max_length=64)
    # Null while the first request is still running: a concurrent duplicate is refused (409).
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key", "path"], name="one_idempotency_record_per_key_and_path"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.path}"

    @property
    def is_complete(self) -> bool:
        return self.response_status is not None
