"""The echo pipeline: one step per input line, each writing a result row.

Params steer it for tests: `sleep` (seconds per step), `exit_at_step` (the worker process
exits hard at that step, on every attempt), `fail_at_step` (raises JobFailed there).
"""

import os
import time

from quorum.jobs.runner import JobContext, JobFailed
from tests.platform.jobs.echo_solution.models import EchoResult


def clear_results(job: object) -> None:
    EchoResult.objects.filter(job=job).delete()


def echo_pipeline(ctx: JobContext) -> dict:
    lines: list[str] = []
    for job_file in ctx.files:
        with ctx.open_file(job_file) as handle:
            lines.extend(handle.read().decode().splitlines())
    sleep = float(ctx.params.get("sleep", 0))
    for step, text in enumerate(lines, start=1):
        ctx.progress(100 * (step - 1) / len(lines), f"line {step} of {len(lines)}")
        if step == ctx.params.get("exit_at_step"):
            os._exit(1)  # a crash that takes the worker process down, as a segfault would
        if step == ctx.params.get("fail_at_step"):
            raise JobFailed(f"line {step} says stop: {text!r}")
        time.sleep(sleep)
        EchoResult.objects.create(
            job=ctx.job, line_number=step, text=text, attempt=ctx.job.attempts
        )
    return {"lines": len(lines), "attempt": ctx.job.attempts}
