"""Celery tasks: `run_job` runs any job, `deliver_webhook` sends one signed webhook event.

Both take JSON arguments only (ids as strings). `run_job` acknowledges its message only when
the attempt ends, and a worker process that dies mid-job puts the message back on the queue;
the job's lease (see services.claim_job) makes the redelivered copy safe.
"""

import logging

from celery import shared_task
from celery.app.task import Task
from django.conf import settings
from django.db import DatabaseError

from quorum.jobs import runner, webhooks
from quorum.jobs.services import lease_owner_name

logger = logging.getLogger(__name__)

@shared_task(
    bind=True,
    name="quorum.jobs.tasks.run_job",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.QUORUM_JOB_TIME_LIMIT,
    time_limit=settings.QUORUM_JOB_TIME_LIMIT + 60,
    max_retries=None,
)
def run_job(self: Task, job_id: str) -> None:
    """Run one attempt of the job `job_id` (a UUID string)."""
    try:
        runner.run_job(job_id, lease_owner_name(self.request.id or "local"))
    except DatabaseError as error:
        # The database went away mid-attempt. The retry comes once our lease has lapsed, so
        # it takes the job over and starts it afresh (its results cleared first).
        logger.warning("job %s: database error, retrying: %s", job_id, error)
        raise self.retry(countdown=settings.QUORUM_JOB_LEASE_SECONDS + 1) from error


@shared_task(
    bind=True,
    name="quorum.jobs.tasks.deliver_webhook",
    acks_late=True,
    ignore_result=True,
    max_retries=None,  # the cap is QUORUM_WEBHOOK_MAX_ATTEMPTS, counted on the delivery row
)
def deliver_webhook(self: Task, delivery_id: str) -> None:
    """POST one delivery; on failure retry with exponential backoff up to the attempt cap."""
    retry_in = webhooks.attempt_delivery(delivery_id)
    if retry_in is not None:
        raise self.retry(countdown=retry_in)
