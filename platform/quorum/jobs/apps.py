"""The jobs app: the job lifecycle, the Celery task that runs any job, and webhooks."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "quorum.jobs"
    label = "jobs"
    verbose_name = "Jobs"
