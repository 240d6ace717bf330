"""One training loop for every task: AdamW, warm-up + cosine decay, clipping, autocast,
early stopping on a validation metric, a progress callback, resumable checkpoints, and DDP
when launched by torchrun; and `fit_wide`, the convex fit of a text model's wide n-gram
read-outs alone (L-BFGS), which comes before `fit` when the deep half is to learn its residual.

Batches are dicts holding the encoder inputs and, under each head's name, that head's target
(see engine.config.HeadSpec), so one loader feeds both the model and the loss.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from engine.checkpoint import WEIGHTS_FILE, load_checkpoint, save_checkpoint
from engine.model import MoETransformer

Batch = dict[str, torch.Tensor]
MetricFn = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], float]
RESUME_DIR = "last"  # inside checkpoint_dir: the latest epoch, for resuming
BEST_DIR = "best"  # inside checkpoint_dir: the best epoch so far, a normal checkpoint
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"


@dataclass
class Predictions:
    """Head outputs and targets over a whole loader, concatenated along the batch.

    Token heads are flattened to the real (unpadded) tokens: outputs (N_tokens, n), targets
    (N_tokens,). Targets hold only the heads that the batches carried.
    """

    heads: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    loss: float


@dataclass
class FitResult:
    best_metric: float
    best_epoch: int
    history: list[dict[str, Any]]
    stopped_early: bool
    best_state: dict[str, torch.Tensor] = field(repr=False)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def move_batch(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def split_targets(model: MoETransformer, batch: Batch) -> Batch:
    return {name: batch[name] for name in model.heads if name in batch}


def autocast_context(device: torch.device, enabled: bool) -> AbstractContextManager[Any]:
    """bf16 autocast on the CPU and on GPUs that support it, fp16 on older GPUs."""
    if not enabled:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=_amp_dtype(device))


def _amp_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


@torch.no_grad()
def collect_predictions(model: MoETransformer, loader: Iterable[Batch], amp: bool = False) -> Predictions:
    """Run the model over a loader in eval mode; returns outputs, targets and the mean loss."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    heads: dict[str, list[torch.Tensor]] = {name: [] for name in model.heads}
    targets: dict[str, list[torch.Tensor]] = {}
    loss_sum, batches = 0.0, 0
    for batch in loader:
        batch = move_batch(batch, device)
        with autocast_context(device, amp):
            output = model(batch)
        batch_targets = split_targets(model, batch)
        if batch_targets:
            loss_sum += float(model.loss(output, batch_targets))
            batches += 1
        for name, head in model.heads.items():
            out = output.heads[name].float()
            token_head = head.spec.kind == "token"
            heads[name].append(out[output.valid].cpu() if token_head else out.cpu())
            if name in batch_targets:
                target = batch_targets[name]
                targets.setdefault(name, []).append((target[output.valid] if token_head else target).cpu())
    model.train(was_training)
    return Predictions(
        heads={k: torch.cat(v) for k, v in heads.items() if v},
        targets={k: torch.cat(v) for k, v in targets.items()},
        loss=loss_sum / max(batches, 1),
    )


class LengthBucketedBatches:
    """Training batches of similar-length sequences, cut to their longest real token.

    rows: tensors with a first dimension N; those of shape (N, T) whose name is in
    `sequence_keys` are padded sequences cut per batch to the batch's longest `lengths`.
    Each epoch (each iter) shuffles rows, sorts them by length within pools of `pool_batches`
    batches, and shuffles the batch order: most of the padding, and its cost, goes away.
    """

    def __init__(self, rows: dict[str, torch.Tensor], lengths: torch.Tensor, batch_size: int,
                 sequence_keys: tuple[str, ...] = ("input_ids", "attention_mask"), pool_batches: int = 50, seed: int = 0) -> None:
        self.rows, self.lengths, self.batch_size = rows, lengths, batch_size
        self.sequence_keys, self.pool = sequence_keys, batch_size * pool_batches
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = torch.randperm(len(self.lengths), generator=self.generator)
        batches = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            pool = pool[torch.argsort(self.lengths[pool], stable=True)]
            batches += list(pool.split(self.batch_size))
        for b in torch.randperm(len(batches), generator=self.generator).tolist():
            index = batches[b]
            longest = max(1, int(self.lengths[index].max()))
            yield {k: v[index, :longest] if k in self.sequence_keys else v[index] for k, v in self.rows.items()}


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up to base_lr, then cosine decay to 10% of it at total_steps."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    return base_lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _optimizer(model: MoETransformer, lr: float, weight_decay: float) -> torch.optim.AdamW:
    # Decay matrices only; biases, norm weights and CLS vectors are not decayed.
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def _start_distributed() -> bool:
    """Join the torchrun process group if launched with WORLD_SIZE > 1; True if we started it."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return True


def _distributed_loader(loader: DataLoader, seed: int) -> tuple[DataLoader, DistributedSampler]:
    # Each rank trains on its own shard of the training set, reshuffled every epoch.
    sampler = DistributedSampler(loader.dataset, shuffle=True, seed=seed)
    rebuilt = DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=sampler,
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
        drop_last=loader.drop_last,
    )
    return rebuilt, sampler


def fit(
    model: MoETransformer,
    train_loader: Iterable[Batch],
    valid_loader: Iterable[Batch],
    *,
    metric_fn: MetricFn | None = None,
    maximize: bool = True,
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    warmup_steps: int = 0,
    grad_clip: float | None = 1.0,
    patience: int | None = None,
    seed: int = 0,
    progress: Callable[[dict[str, Any]], None] | None = None,
    progress_every: int = 50,
    checkpoint_dir: str | Path | None = None,
    amp: bool = False,
) -> FitResult:
    """Train `model` in place and leave the best epoch's weights loaded in it.

    metric_fn(predictions, targets) -> float scores the validation set (see Predictions);
    without one the validation loss is the metric and lower is better. patience: epochs
    without improvement before stopping (None = never). progress receives a dict after every
    `progress_every` steps ("event": "step") and every epoch ("event": "epoch"); an exception
    it raises (a cancelled job) stops training. checkpoint_dir: "last/" is rewritten every
    epoch and training resumes from it; "best/" holds the best epoch as a normal checkpoint.
    Under torchrun (WORLD_SIZE > 1) the model is wrapped in DDP and the training loader is
    rebuilt over a DistributedSampler; rank 0 writes the checkpoints.
    """
    if metric_fn is None:
        maximize = False
    seed_everything(seed)
    started_distributed = _start_distributed()
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    device = next(model.parameters()).device
    sampler = None
    if distributed and isinstance(train_loader, DataLoader):
        train_loader, sampler = _distributed_loader(train_loader, seed)
    runner = (
        DistributedDataParallel(model, broadcast_buffers=False, find_unused_parameters=True)
        if distributed
        else model
    )
    optimizer = _optimizer(model, lr, weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and _amp_dtype(device) == torch.float16)
    total_steps = epochs * len(train_loader)

    state = {"epoch": 0, "step": 0, "best_metric": None, "best_epoch": -1, "bad_epochs": 0, "history": []}
    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if checkpoint_dir is not None and (checkpoint_dir / RESUME_DIR / STATE_FILE).is_file():
        state = _load_resume(model, optimizer, checkpoint_dir / RESUME_DIR)
        if (checkpoint_dir / BEST_DIR / WEIGHTS_FILE).is_file():
            best_state = load_checkpoint(checkpoint_dir / BEST_DIR).state_dict()

    def schedule(step: int) -> float:
        return lr_at(step, lr, warmup_steps, total_steps)

    def report_step(train_loss: float, current_lr: float) -> None:
        if progress is not None and progress_every and state["step"] % progress_every == 0:
            progress({
                "event": "step", "epoch": state["epoch"], "epochs": epochs, "step": state["step"],
                "total_steps": total_steps, "train_loss": train_loss, "lr": current_lr,
                "percent": 100.0 * state["step"] / max(total_steps, 1),
            })

    stopped_early = patience is not None and state["bad_epochs"] >= patience
    try:
        while state["epoch"] < epochs and not stopped_early:
            epoch = state["epoch"]
            started = time.monotonic()
            # Seeding per epoch makes shuffling and dropout the same whether or not we resumed.
            seed_everything(seed + 1000 * (epoch + 1))
            if sampler is not None:
                sampler.set_epoch(epoch)
            train_loss, mean_load, current_lr = _train_epoch(
                runner, model, train_loader, optimizer, scaler, state, schedule, grad_clip, amp, report_step
            )
            predictions = collect_predictions(model, valid_loader, amp)
            metric = predictions.loss if metric_fn is None else float(metric_fn(predictions.heads, predictions.targets))
            best = state["best_metric"]
            improved = best is None or (metric > best if maximize else metric < best)
            if improved:
                state["best_metric"], state["best_epoch"], state["bad_epochs"] = metric, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                state["bad_epochs"] += 1
            record = {
                "epoch": epoch, "train_loss": train_loss,
                "valid_loss": predictions.loss, "metric": metric, "best_metric": state["best_metric"],
                "lr": current_lr, "seconds": time.monotonic() - started,
                "expert_load": mean_load.tolist(),
                "expert_overload": float(mean_load.max() * mean_load.shape[1]) if mean_load.numel() else None,
            }
            state["history"].append(record)
            state["epoch"] = epoch + 1
            stopped_early = patience is not None and state["bad_epochs"] >= patience
            if checkpoint_dir is not None and rank == 0:
                if improved:
                    save_checkpoint(model, checkpoint_dir / BEST_DIR)
                _save_resume(model, optimizer, state, checkpoint_dir / RESUME_DIR)
            if distributed:
                dist.barrier()
            if progress is not None:
                progress({
                    "event": "epoch", "epochs": epochs, "step": state["step"], "total_steps": total_steps,
                    "percent": 100.0 * state["epoch"] / epochs, "improved": improved, **record,
                })
    finally:
        if started_distributed:
            dist.destroy_process_group()

    model.load_state_dict(best_state)
    return FitResult(
        best_metric=state["best_metric"] if state["best_metric"] is not None else float("nan"),
        best_epoch=state["best_epoch"],
        history=state["history"],
        stopped_early=stopped_early,
        best_state=best_state,
    )


def fit_wide(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    targets: dict[str, torch.Tensor],
    *,
    c: float = 4.0,
    max_iter: int = 100,
) -> dict[str, float]:
    """Fit each wide read-out (engine.heads.NgramLogits) and its head's bias alone, as an
    L2-regularised logistic regression solved to convergence by L-BFGS on the whole set; the
    deep half does not run. c is the inverse regularisation strength per output, as
    liblinear's C in a one-vs-rest model; the penalty is on the read-out's effective weights
    (gain included) and pulls them towards where they start: zero for a fresh model, the base
    model's for a PEFT adapter that saves the read-out (whose trained copy is what is fitted),
    so a tenant's few rows correct the base fit instead of replacing it.
    Freezing these weights and then training the deep half with `fit` makes it learn the
    residual of a converged bag-of-n-grams model: on the contracts' validation segments Adam
    with early stopping took the same bag to micro AUPR 0.344, L-BFGS to 0.378.
    input_ids, attention_mask: (N, T); targets: head name -> (N, n) multilabel or (N,)
    multiclass, for the heads to fit; model: a MoETransformer or a PeftModel around one.
    Returns each fitted head's final objective.
    """
    from engine.lora import trained_copy

    fitted = [name for name in model.wide if name in targets]
    if not fitted:
        raise ValueError(f"no target for any wide read-out; the model has {sorted(model.wide)}")
    valid = attention_mask.bool()
    parts = {}
    for name in fitted:
        wide, head = model.wide[name], trained_copy(model.heads[name])
        bag = trained_copy(wide.weight_bag)
        if type(bag) is not torch.nn.EmbeddingBag:
            raise ValueError(f"the wide read-out of {name!r} is a {type(bag).__name__}, a serving wrapper: "
                             "fit the base model or a PEFT adapter")
        target = targets[name]
        terms = int((target != -100).sum()) if head.spec.kind == "multiclass" else int((~torch.isnan(target)).sum())
        start = bag.weight.detach().clone()
        parts[name] = (wide.gain, bag, head, start, wide.packed_bags(input_ids, valid), target, max(terms, 1))
    params = [p for _, bag, head, *_ in parts.values() for p in (bag.weight, head.proj.bias)]
    for param in params:
        param.requires_grad_(True)
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")
    objectives: dict[str, float] = {}

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        total = params[0].new_zeros(())
        for name, (gain, bag, head, start, (ids, offsets, weights), target, terms) in parts.items():
            logits = gain * bag(ids, offsets, per_sample_weights=weights) + head.proj.bias  # (N, n)
            penalty = (gain * (bag.weight - start)).pow(2).sum() / (2 * c * terms)
            objective = head.loss(logits, target) + penalty
            objectives[name] = float(objective.detach())
            total = total + objective
        total.backward()
        return total

    with torch.enable_grad():
        optimizer.step(closure)
    return objectives


def _train_epoch(
    runner: torch.nn.Module,
    model: MoETransformer,
    loader: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    state: dict[str, Any],
    schedule: Callable[[int], float],
    grad_clip: float | None,
    amp: bool,
    report_step: Callable[[float, float], None],
) -> tuple[float, torch.Tensor, float]:
    """One pass over the loader; returns mean loss, mean expert load (layers, E), last lr."""
    device = next(model.parameters()).device
    runner.train()
    loss_sum, load_sum, batches = 0.0, torch.zeros(0), 0
    current_lr = schedule(state["step"])
    for batch in loader:
        current_lr = schedule(state["step"])
        for group in optimizer.param_groups:
            group["lr"] = current_lr
        batch = move_batch(batch, device)
        with autocast_context(device, amp):
            output = runner(batch)  # through DDP when distributed, so gradients are averaged
            loss = model.loss(output, split_targets(model, batch))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if grad_clip:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        model.update_router_biases()
        state["step"] += 1
        batches += 1
        loss_sum += float(loss.detach())
        load = torch.stack(output.expert_load).detach().cpu()  # (layers, E)
        load_sum = load if batches == 1 else load_sum + load
        report_step(loss_sum / batches, current_lr)
    return loss_sum / max(batches, 1), load_sum / max(batches, 1), current_lr


def _save_resume(model: MoETransformer, optimizer: torch.optim.Optimizer, state: dict, directory: Path) -> None:
    # Written beside the old folder and swapped in, so a run killed mid-save still resumes.
    staging = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    save_checkpoint(model, staging)
    optimizer_state = optimizer.state_dict()
    tensors = {
        f"{index}.{key}": value.detach().contiguous().cpu()
        for index, slots in optimizer_state["state"].items()
        for key, value in slots.items()
    }
    save_file(tensors, str(staging / OPTIMIZER_FILE))
    (staging / STATE_FILE).write_text(json.dumps(dict(state, param_groups=optimizer_state["param_groups"])))
    previous = directory.with_name(directory.name + ".old")
    if directory.exists():
        directory.replace(previous)
    staging.replace(directory)
    shutil.rmtree(previous, ignore_errors=True)


def _load_resume(model: MoETransformer, optimizer: torch.optim.Optimizer, directory: Path) -> dict:
    payload = json.loads((directory / STATE_FILE).read_text())
    device = next(model.parameters()).device
    model.load_state_dict(load_checkpoint(directory, map_location=device).state_dict())
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in load_file(str(directory / OPTIMIZER_FILE)).items():
        index, key = name.split(".", 1)
        slots.setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict({"state": slots, "param_groups": payload.pop("param_groups")})
    return payload
