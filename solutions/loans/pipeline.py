"""The batch pipeline: a portfolio (CSV files and/or a JSON list) scored row by row.

The JSON list of the API arrives as a stored applications.json file like any upload. Every input
row becomes one ScoredApplication: scored, or an error row with per-field messages;
a bad row never stops the batch. The job's params name the scoring model ("german" by default).
"""

from collections import Counter
from typing import Any

from quorum.jobs.runner import JobFailed
from solutions.loans import services
from solutions.loans.models import ApplicationStatus, ScoredApplication, ScoringModel
from solutions.loans.parsing import InputRow, UnreadableFile, read_applications

ROWS_PER_WRITE = 512


def model_name_from(params: dict[str, Any]) -> str:
    name = params.get("model", ScoringModel.GERMAN)
    if name not in ScoringModel.values:
        raise JobFailed(f"Unknown scoring model {name!r}; choose one of {', '.join(ScoringModel.values)}.")
    return name


def input_rows(ctx: Any) -> list[tuple[str, InputRow]]:
    """(file name, row) for every application in the job's files, in file order."""
    rows: list[tuple[str, InputRow]] = []
    for job_file in ctx.files:
        with ctx.open_file(job_file) as binary:
            try:
                rows.extend((job_file.name, row) for row in read_applications(job_file.name, binary))
            except UnreadableFile as exc:
                raise JobFailed(f"{job_file.name}: {exc}") from None
    if not rows:
        raise JobFailed("The job has no applications: upload a CSV or JSON file of applications.")
    return rows


def run(ctx: Any) -> dict[str, Any]:
    model_name = model_name_from(ctx.params)
    try:
        scorer = services.get_scorer(model_name)
    except LookupError as exc:
        raise JobFailed(f"The {model_name} scoring model is not installed ({exc}).") from None
    policy = services.policy_for(ctx.tenant)
    adapter_id = services.adapter_id_for(ctx.adapter, model_name)
    ctx.progress(2, "Reading applications")
    rows = input_rows(ctx)
    grades: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    errors = 0
    for start in range(0, len(rows), ROWS_PER_WRITE):
        chunk = rows[start : start + ROWS_PER_WRITE]
        readable = [row.application for _, row in chunk]
        scored = services.score_rows(scorer, policy, readable, adapter_id)
        results = []
        for offset, ((_, row), (field_errors, score)) in enumerate(zip(chunk, scored, strict=True)):
            if row.error:  # the row could not even be read: its reading error wins
                field_errors, score = {"non_field_errors": [row.error]}, None
            result = services.result_row(job=ctx.job, index=start + offset, model_name=model_name,
                                         application=row.application, errors=field_errors, score=score)
            if result.status == ApplicationStatus.ERROR:
                errors += 1
            else:
                grades[result.grade] += 1
                decisions[result.decision] += 1
            results.append(result)
        ScoredApplication.objects.bulk_create(results)
        done = start + len(chunk)
        ctx.progress(2 + 97 * done / len(rows), f"Scored {done} of {len(rows)} applications")
    return {
        "model": model_name,
        "adapter_version": adapter_id,
        "applications": len(rows),
        "scored": len(rows) - errors,
        "errors": errors,
        "grades": dict(sorted(grades.items())),
        "decisions": dict(decisions),
    }
