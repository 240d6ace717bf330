"""Worker for test_ddp.py: trains the toy task under torchrun and writes what each rank saw."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from engine.train import fit
from tests.engine.test_train import SignDataset, accuracy, toy_model


def main(out_dir: Path) -> None:
    torch.set_num_threads(1)
    steps = []
    model = toy_model()
    result = fit(
        model,
        DataLoader(SignDataset(256, seed=1), batch_size=32, shuffle=True),
        DataLoader(SignDataset(64, seed=2), batch_size=64),
        metric_fn=accuracy, epochs=4, lr=3e-3, progress=steps.append, progress_every=1,
    )
    rank = int(os.environ["RANK"])
    (out_dir / f"rank{rank}.json").write_text(json.dumps({
        "world_size": int(os.environ["WORLD_SIZE"]),
        "steps": sum(1 for e in steps if e["event"] == "step"),
        "train_loss": [h["train_loss"] for h in result.history],
        "best_metric": result.best_metric,
        "weights": [float(p.double().sum()) for p in model.parameters()],
        "selection_bias": model.blocks[0].moe.router.selection_bias.tolist(),
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
