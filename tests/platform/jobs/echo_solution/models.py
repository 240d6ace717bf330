"""Result rows of the echo test solution: one per input line, so duplicates are countable."""

from django.db import models

from quorum.tenancy.scoping import TenantOwned


class EchoResult(TenantOwned):
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    line_number = models.PositiveIntegerField()
    text = models.TextField()
    attempt = models.PositiveIntegerField()  # the job attempt that wrote the row

    class Meta:
        ordering = ["job", "line_number"]
