"""The training-echo pipeline: reads its inputs through storage and reports what it read
and which worker read it."""

import hashlib
import socket

from quorum.jobs.runner import JobContext
from solutions import registry


def digest_pipeline(ctx: JobContext) -> dict:
    digests = {}
    for job_file in ctx.files:
        with ctx.open_file(job_file) as handle:
            digests[job_file.name] = hashlib.sha256(handle.read()).hexdigest()
        ctx.progress(50, f"read {job_file.name}")
    return {"sha256": digests, "queue": "training", "host": socket.gethostname()}


TRAINING_ECHO = registry.Solution(
    name="training-echo",
    title="Training echo",
    description="Hashes its input files on the training queue.",
    input_kinds=(".txt",),
    pipeline=digest_pipeline,
    queue="training",
    listed=False,
)
