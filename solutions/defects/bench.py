"""Throughput of defect inspection: the bare model forward, the engine's model server, and a
whole inspection job of 500 images, on this machine's CPU.

    python -m solutions.defects.bench [--images N] [--threads T]

Bare forward: the model's forward on already-prepared (N, 1, S, S) tensors at its input size S, batches
of ROWS (32) rows, one view per image. Inspector: the same tensors through `Inspector.predict` as served, which
averages inference.VIEWS flipped views of each image. Engine server: the inspector through
engine.serving (the dynamic batcher and multi-LoRA model a worker uses). End to end: a ZIP of N synthetic 200x200 PNG parts submitted as a job and
run through the real job runner (Celery in eager mode, a throwaway SQLite database and media
folder): safe intake, decoding, prediction, decisions, boxes, heat-map and part PNGs written to
storage, rows saved. Writes docs/benchmarks/defects.json and .md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform as host_platform
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROWS = 32  # rows per forward on every path, views included (Inspector.predict's default)


def synthetic_zip(count: int) -> bytes:
    from solutions.defects.synthetic import KINDS, synthetic_part

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(count):
            image = io.BytesIO()
            synthetic_part(KINDS[i % len(KINDS)], seed=i).save(image, "PNG")
            archive.writestr(f"part-{i:04d}.png", image.getvalue())
    return buffer.getvalue()


def best_rates(count: int, runs: dict[str, object], rounds: int = 3) -> dict[str, float]:
    """Images per second of each run, best of `rounds`, the runs taking turns.

    The CPU is shared with other work: alternating spreads its load over both paths, and the
    best round is what this machine can do.
    """
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()  # type: ignore[operator]
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: count / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="defects-bench-"))
    # A throwaway database and media folder, and jobs run in this process by eager Celery.
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    os.environ["QUORUM_VAR_DIR"] = str(scratch)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    import django

    django.setup()
    import numpy as np
    import torch
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from quorum.tenancy.scoping import tenant_scope
    from quorum.tenancy.services import add_member, create_tenant
    from solutions.defects import services
    from solutions.defects.imaging import to_model_array
    from solutions.defects.inference import Inspector, load_inspector, served_inspector
    from solutions.defects.models import InspectionResult
    from solutions.defects.synthetic import KINDS, synthetic_part

    torch.set_num_threads(args.threads)
    call_command("migrate", verbosity=0)
    model_dir = services.model_dir()
    count = args.images
    inspector = load_inspector(model_dir)
    bare = Inspector(inspector.forward, inspector.config, views=1)
    size = inspector.image_size
    pixels = torch.from_numpy(np.stack([
        to_model_array(synthetic_part(KINDS[i % len(KINDS)], seed=i), size) for i in range(count)
    ]))

    served = served_inspector(model_dir, max_batch_size=ROWS)
    runs = {"bare": bare, "inspector": inspector, "served": served}
    for run in runs.values():  # warm-up outside the timing, every batch shape included
        run.predict(pixels, batch_size=ROWS)
    rates = best_rates(count, {name: (lambda run=run: run.predict(pixels, batch_size=ROWS)) for name, run in runs.items()})
    bare_rate, inspector_rate, served_rate = rates["bare"], rates["inspector"], rates["served"]

    archive = synthetic_zip(count)
    tenant = create_tenant(name="Bench", slug="bench")
    user = get_user_model().objects.create_user(username="bench@example.com", email="bench@example.com")
    add_member(tenant=tenant, user=user, role="admin")
    with tenant_scope(tenant):
        started = time.perf_counter()
        job = services.start_inspection(
            tenant=tenant, user=user, files=[SimpleUploadedFile("batch.zip", archive, content_type="application/zip")]
        )
        job_seconds = time.perf_counter() - started
        job.refresh_from_db()
        rows = InspectionResult.objects.filter(job=job, status="ok").count()
    if rows != count:
        raise SystemExit(f"the job inspected {rows} of {count} images ({job.status}: {job.error})")
    job_rate = count / job_seconds

    result = {
        "images": count, "torch_threads": args.threads, "cpus": os.cpu_count(),
        "machine": host_platform.machine(), "input_px": size,
        "views": inspector.views,
        "bare_forward_images_per_s": round(bare_rate, 1),
        "inspector_images_per_s": round(inspector_rate, 1),
        "engine_server_images_per_s": round(served_rate, 1),
        "end_to_end_job_images_per_s": round(job_rate, 1),
        "job_seconds": round(job_seconds, 2),
        "inspector_over_bare": round(inspector_rate / bare_rate, 3),
        "server_over_bare": round(served_rate / bare_rate, 3),
        "server_over_inspector": round(served_rate / inspector_rate, 3),
        "job_over_bare": round(job_rate / bare_rate, 3),
    }
    table = "\n".join([
        "# Defect inspection throughput",
        "",
        f"{count} synthetic 200x200 PNG parts, inspector at {size} px, torch threads {args.threads}, "
        f"{os.cpu_count()} CPU cores shared with other work. Command: `python -m solutions.defects.bench`.",
        "",
        "| path | images/s | vs bare forward |",
        "| --- | --- | --- |",
        f"| bare model forward (prepared tensors, {ROWS}-row forwards, one view, best of 3) | {bare_rate:.1f} | 1.00 |",
        f"| inspector as served: {inspector.views} flipped views averaged (best of 3) | {inspector_rate:.1f} | "
        f"{inspector_rate / bare_rate:.2f} |",
        f"| engine model server (dynamic batcher, multi-LoRA model, {inspector.views} views, best of 3) | "
        f"{served_rate:.1f} | {served_rate / bare_rate:.2f} |",
        f"| end-to-end job: ZIP of {count} images through the job runner (intake, decode, predict, "
        f"decide, boxes, PNGs to storage, rows saved) | {job_rate:.1f} | {job_rate / bare_rate:.2f} |",
        "",
    ])
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "defects.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "defects.md").write_text(table)


if __name__ == "__main__":
    main()
