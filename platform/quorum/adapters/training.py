"""The adapter training job: PEFT LoRA on a solution's base model, measured on the tenant holdout.

Runs as the pipeline of the platform job kind ``adapter-training`` (queue ``training``), so it
has the job machinery's progress, cancellation and leases. Steps: split the dataset's training
rows into fit and early-stopping parts, score the base model on the tenant holdout, fit a saved
wide n-gram read-out to the fit rows alone (engine.train.fit_wide) and freeze it, train the
adapter with engine.train.fit (each epoch's losses go to the run's loss curve), score the
adapter on the same holdout, store the PEFT files and create the immutable version.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import transaction

from quorum.adapters import services, storage
from quorum.adapters.models import AdapterTrainingRun, AdapterVersion
from quorum.adapters.spec import AdapterHooks

VALID_FRACTION = 0.15  # of the training rows, held back for early stopping
# The read-out's refit runs on the whole set at once; past this many rows, on a seeded sample
# (the base clause model's fit took 59k rows, so a worker's memory holds this many).
WIDE_FIT_MAX_ROWS = 50_000


def _saves_wide_read_out(modules_to_save: list[str]) -> bool:
    return any(name.startswith("wide.") for name in modules_to_save)


def _fit_saved_wide_read_outs(peft_model: Any, batch: dict) -> None:
    """An adapter that saves a wide read-out starts as the base model was trained: the read-out
    is fitted alone to the tenant's rows (engine.train.fit_wide, pulled towards the base fit),
    then frozen, and LoRA and the head learn its residual."""
    from engine.lora import trained_copy
    from engine.train import fit_wide

    targets = {name: batch[name] for name in peft_model.wide if name in batch}
    fit_wide(peft_model, batch["input_ids"], batch["attention_mask"], targets)
    for name in targets:
        trained_copy(peft_model.wide[name].weight_bag).requires_grad_(False)


def _evaluate(model: Any, hooks: AdapterHooks, batches: list[dict]) -> float:
    from engine.train import collect_predictions

    predictions = collect_predictions(model, batches)
    return float(hooks.metric(predictions.heads, predictions.targets))


def model_card(run: AdapterTrainingRun, hooks: AdapterHooks, sizes: dict[str, int], base_metric: float,
               adapter_metric: float, fit_result: Any) -> str:
    better = (adapter_metric > base_metric) == hooks.maximize
    lines = [
        f"# {run.solution} adapter on the {run.base_model} base model",
        "",
        f"- Dataset: {run.dataset.name} ({run.dataset.get_source_display().lower()}, "
        f"{run.dataset.row_count} rows accepted)",
        f"- Split: {sizes['train']} rows trained on, {sizes['valid']} for early stopping, "
        f"{sizes['holdout']} in the fixed tenant holdout (seed {run.dataset.holdout_seed})",
        f"- LoRA: r={run.options['r']}, alpha={run.options['lora_alpha']}, dropout={run.options['lora_dropout']}, "
        f"targets {', '.join(run.options['target_modules'])}; heads trained alongside: "
        f"{', '.join(hooks.modules_to_save(run.base_model)) or 'none'}",
        f"- Training: best epoch {fit_result.best_epoch} of {len(fit_result.history)}"
        f"{' (stopped early)' if fit_result.stopped_early else ''}, lr {run.options['lr']}",
    ]
    if _saves_wide_read_out(hooks.modules_to_save(run.base_model)):
        lines.append("- N-gram read-out: fitted alone to the training rows first (L-BFGS, pulled towards "
                     "the base model's), then frozen while LoRA and the heads trained")
    lines += [
        "",
        f"| Model | Holdout {hooks.metric_name} |",
        "|---|---|",
        f"| Base model | {base_metric:.4f} |",
        f"| Adapter | {adapter_metric:.4f} |",
        "",
        "The adapter " + ("beats" if better else "does not beat") + " the base model on this tenant's holdout.",
        "It was trained on this tenant's data only and is served only to this tenant.",
    ]
    return "\n".join(lines) + "\n"


class EpochShuffledBatches:
    """The training rows in a fresh order every epoch, batched by the solution's hook."""

    def __init__(self, hooks: Any, base_model: str, rows: list[Any], batch_size: int, seed: int) -> None:
        self.hooks, self.base_model, self.rows, self.batch_size = hooks, base_model, list(rows), batch_size
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.rng.shuffle(self.rows)
        return iter(self.hooks.batches(self.base_model, self.rows, self.batch_size))


def run(ctx: Any) -> dict[str, Any]:
    """The pipeline of the ``adapter-training`` job kind."""
    from engine.checkpoint import load_checkpoint
    from engine.lora import attach_adapter, default_lora_config, save_adapter
    from engine.train import fit, seed_everything
    from quorum.jobs.runner import JobFailed

    run_row = AdapterTrainingRun.objects.select_related("dataset").get(job=ctx.job)
    hooks = services.hooks_for(run_row.solution)
    options = run_row.options
    ctx.progress(1, "Reading the dataset")
    try:
        train_rows, holdout_rows = services.dataset_parts(run_row.dataset)
    except services.AdapterRefused as exc:
        raise JobFailed(str(exc)) from None
    shuffled = list(train_rows)
    random.Random(run_row.dataset.holdout_seed).shuffle(shuffled)
    n_valid = max(1, round(len(shuffled) * VALID_FRACTION))
    valid_rows, fit_rows = shuffled[:n_valid], shuffled[n_valid:]
    if not fit_rows:
        raise JobFailed("The dataset has too few training rows left after the holdout.")
    size = options["batch_size"]
    fit_batches = EpochShuffledBatches(hooks, run_row.base_model, fit_rows, size, seed=run_row.dataset.holdout_seed)
    valid_batches = hooks.batches(run_row.base_model, valid_rows, size)
    holdout_batches = hooks.batches(run_row.base_model, holdout_rows, size)

    seed_everything(0)
    model = load_checkpoint(hooks.base_model_dir(run_row.base_model))
    ctx.progress(3, "Scoring the base model on the tenant holdout")
    base_metric = _evaluate(model, hooks, holdout_batches)
    config = default_lora_config(
        r=options["r"], lora_alpha=options["lora_alpha"], lora_dropout=options["lora_dropout"],
        target_modules=list(options["target_modules"]), modules_to_save=hooks.modules_to_save(run_row.base_model),
    )
    peft_model = attach_adapter(model, config)
    if _saves_wide_read_out(list(config.modules_to_save or ())):
        ctx.progress(4, "Fitting the n-gram read-out to the tenant's rows")
        rows = fit_rows if len(fit_rows) <= WIDE_FIT_MAX_ROWS else random.Random(0).sample(fit_rows, WIDE_FIT_MAX_ROWS)
        _fit_saved_wide_read_outs(peft_model, hooks.batches(run_row.base_model, rows, len(rows))[0])
    curve: list[dict[str, Any]] = []

    def on_progress(event: dict[str, Any]) -> None:
        percent = 5 + 85 * event["percent"] / 100
        if event["event"] == "epoch":
            epoch = event["epoch"] + 1  # the engine counts from 0; people count from 1
            curve.append({
                "epoch": epoch, "train_loss": event["train_loss"], "valid_loss": event["valid_loss"],
                "metric": event["metric"],
            })
            AdapterTrainingRun.objects.filter(pk=run_row.pk).update(loss_curve=curve)
            ctx.progress(percent, f"Epoch {epoch} of {event['epochs']}: "
                                  f"{hooks.metric_name} {event['metric']:.4f}")
        else:
            ctx.progress(percent, f"Training, step {event['step']} of {event['total_steps']}")

    result = fit(
        peft_model, fit_batches, valid_batches, metric_fn=hooks.metric, maximize=hooks.maximize,
        epochs=options["epochs"], lr=options["lr"], patience=options["patience"], progress=on_progress,
        progress_every=20,
    )
    ctx.progress(92, "Scoring the adapter on the tenant holdout")
    peft_model.eval()
    adapter_metric = _evaluate(peft_model, hooks, holdout_batches)
    sizes = {"train": len(fit_rows), "valid": len(valid_rows), "holdout": len(holdout_rows)}
    card = model_card(run_row, hooks, sizes, base_metric, adapter_metric, result)
    with tempfile.TemporaryDirectory() as staging:
        save_adapter(peft_model, staging)
        with transaction.atomic():
            version = AdapterVersion(
                tenant=ctx.tenant, solution=run_row.solution, base_model=run_row.base_model,
                number=services.next_version_number(ctx.tenant, run_row.solution),
                lora_options={**options, "modules_to_save": hooks.modules_to_save(run_row.base_model)},
                metric_name=hooks.metric_name,
                adapter_metrics={hooks.metric_name: adapter_metric, **sizes},
                base_metrics={hooks.metric_name: base_metric, **sizes},
                model_card=card, dataset=run_row.dataset, created_by=run_row.created_by,
            )
            version.storage_prefix = storage.version_prefix(ctx.tenant.pk, str(version.pk))
            storage.store_adapter_dir(Path(staging), version.storage_prefix)
            version.save()
            AdapterTrainingRun.objects.filter(pk=run_row.pk).update(version=version, loss_curve=curve)
    return {
        "version": version.number,
        "version_id": str(version.pk),
        f"base_{hooks.metric_name}": round(base_metric, 4),
        f"adapter_{hooks.metric_name}": round(adapter_metric, 4),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
    }


def clear_results(job: Any) -> None:
    """Before an attempt: forget the loss curve of an earlier attempt (a version is only made
    at the very end, in one transaction, so there is none to remove)."""
    AdapterTrainingRun.objects.all_tenants().filter(job=job, version__isnull=True).update(loss_curve=[])
