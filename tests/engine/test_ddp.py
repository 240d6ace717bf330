"""Two processes under torchrun (gloo on the CPU) train the toy task together with DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_two_process_ddp_run_trains_both_ranks_in_step(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "tests.engine.ddp_toy_training", str(tmp_path),
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for rank in ranks:
        assert rank["world_size"] == 2
        assert rank["steps"] == 4 * 4  # 256 rows / 2 ranks / batch 32, four epochs
        assert rank["train_loss"][-1] < rank["train_loss"][0]
    # DDP averaged the gradients and the router biases saw the same summed load on both ranks.
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["selection_bias"] == ranks[1]["selection_bias"]
    assert ranks[0]["train_loss"] != ranks[1]["train_loss"]  # each rank trained on its own shard
