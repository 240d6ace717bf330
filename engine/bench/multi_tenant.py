"""Multi-tenant benchmark: one batch of rows spread over 16 tenants' LoRA adapters.

Ours (`engine.lora.enable_multi_lora`: every adapter in a slot, one forward with per-row slots
through ``engine.kernels.multi_lora``) against PEFT's mixed batch (``adapter_names=``) and
against switching PEFT's active adapter tenant by tenant (``set_adapter``), on the same base
and adapters; the outputs of all three are checked equal. The whole model is timed, and the
adapted projection layer alone (where the methods differ; the MoE and attention are common).

    python -m engine.bench.multi_tenant [--rows 256] [--adapters 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model

from engine.bench.common import cpu_time_setup, interleaved_medians, write_report
from engine.config import HeadSpec, ModelConfig
from engine.layers import adapter_ids_set
from engine.lora import default_lora_config, enable_multi_lora, save_adapter
from engine.model import MoETransformer

SEQUENCE_LENGTH = 16


def bench_config() -> ModelConfig:
    """A text model the size of a small contracts model."""
    return ModelConfig(
        d_model=128, n_layers=2, n_heads=4, n_experts=16, top_k=3, n_shared_experts=1,
        expert_hidden=128, encoder="text", vocab_size=1000, max_len=SEQUENCE_LENGTH,
        heads=[HeadSpec("label", "multiclass", 4), HeadSpec("tags", "token", 3)],
    )  # fmt: skip


def _peft_with_adapters(base: MoETransformer, count: int, rank: int) -> PeftModel:
    torch.manual_seed(1)
    config = default_lora_config(r=rank, lora_dropout=0.0, init_lora_weights=False)
    peft_model = get_peft_model(copy.deepcopy(base), config, adapter_name="tenant0")
    for index in range(1, count):
        peft_model.add_adapter(f"tenant{index}", config)
    return peft_model.eval()


def run(rows: int = 256, adapters: int = 16, rank: int = 16, repeats: int = 7, out_dir: Path | None = None) -> dict:
    cpu_time_setup()
    torch.manual_seed(0)
    base = MoETransformer(bench_config()).eval()
    peft_model = _peft_with_adapters(base, adapters, rank)
    names = [f"tenant{i}" for i in range(adapters)]

    served = copy.deepcopy(base)
    multi = enable_multi_lora(served, max_adapters=adapters, rank=rank)
    with tempfile.TemporaryDirectory() as scratch:
        for slot, name in enumerate(names):
            multi.load_directory(slot, save_adapter(peft_model, Path(scratch) / name, adapter_name=name))

    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(1, 1000, (rows, SEQUENCE_LENGTH), generator=g),
        "attention_mask": torch.ones(rows, SEQUENCE_LENGTH, dtype=torch.bool),
    }
    slots = torch.randperm(rows, generator=g) % adapters
    row_names = [names[s] for s in slots.tolist()]

    def ours():
        return served(batch, adapter_ids=slots).heads

    def peft_mixed():
        return peft_model(batch, adapter_names=row_names).heads

    def peft_switching():
        outputs: dict[str, torch.Tensor] = {}
        for slot, name in enumerate(names):
            rows_of = torch.nonzero(slots == slot).squeeze(1)
            peft_model.set_adapter(name)
            part = peft_model({key: value[rows_of] for key, value in batch.items()}).heads
            for head, value in part.items():
                outputs.setdefault(head, torch.empty(rows, *value.shape[1:]))[rows_of] = value
        return outputs

    def base_only():
        return base(batch).heads

    with torch.inference_mode():
        reference = ours()
        for method in (peft_mixed, peft_switching):
            for head, value in method().items():
                torch.testing.assert_close(value, reference[head], atol=1e-4, rtol=1e-4)
        model_times = interleaved_medians(
            {
                "ours (one mixed forward)": ours,
                "PEFT mixed batch (adapter_names=)": peft_mixed,
                "PEFT set_adapter per tenant": peft_switching,
                "base model, no adapters": base_only,
            },
            repeats,
        )
        layer_times = _layer_times(served, peft_model, slots, row_names, repeats)

    peer = model_times["PEFT mixed batch (adapter_names=)"]
    results = [
        {"scope": "whole model", "method": method, "CPU ms": seconds * 1000, "rows per CPU s": rows / seconds, "speed-up vs PEFT mixed": peer / seconds}
        for method, seconds in model_times.items()
    ]
    layer_peer = layer_times["PEFT mixed batch (adapter_names=)"]
    results += [
        {"scope": "q_proj layer", "method": method, "CPU ms": seconds * 1000, "rows per CPU s": rows / seconds, "speed-up vs PEFT mixed": layer_peer / seconds}
        for method, seconds in layer_times.items()
    ]
    setup = {
        "rows": rows, "tokens per row": SEQUENCE_LENGTH, "adapters": adapters, "rank": rank,
        "targets": "q_proj, v_proj", "model": "d_model 128, 2 layers, 16 experts top-3",
        "repeats (median of interleaved runs)": repeats,
    }  # fmt: skip
    ours_s, switching_s, base_s = (
        model_times["ours (one mixed forward)"], model_times["PEFT set_adapter per tenant"], model_times["base model, no adapters"],
    )  # fmt: skip
    notes = [
        f"Ours against switching adapters tenant by tenant: {switching_s / ours_s:.2f}x.",
        f"Bound on the whole-model ratio: the adapters' own work is {100 * (peer - base_s) / peer:.0f}% of PEFT's "
        f"mixed forward (the rest is the shared base model), so even a free multi-LoRA would be "
        f"{peer / base_s:.2f}x PEFT's; the q_proj rows compare the multi-LoRA operation itself.",
        "Outputs of the three methods are equal (atol 1e-4) on every head.",
        "Times are process CPU time on one torch thread (see engine/bench/common.py).",
        "On the CPU `engine.kernels.multi_lora` runs its torch reference; the Triton kernel needs CUDA.",
    ]
    return write_report(
        "multi_tenant", "Multi-tenant LoRA: one mixed batch over many adapters",
        setup, ["scope", "method", "CPU ms", "rows per CPU s", "speed-up vs PEFT mixed"], results, notes,
        **({"out_dir": out_dir} if out_dir else {}),
    )  # fmt: skip


def _layer_times(served: MoETransformer, peft_model: PeftModel, slots: torch.Tensor, row_names: list[str], repeats: int) -> dict[str, float]:
    """The first block's adapted q_proj alone, on (rows, T, D) inputs."""
    ours_layer = served.blocks[0].attn.q_proj
    peft_layer = peft_model.base_model.model.blocks[0].attn.q_proj
    x = torch.randn(slots.shape[0], SEQUENCE_LENGTH, ours_layer.base.in_features)

    def ours():
        with adapter_ids_set(slots):
            return ours_layer(x)

    def peft_mixed():
        return peft_layer(x, adapter_names=row_names)

    torch.testing.assert_close(ours(), peft_mixed(), atol=1e-4, rtol=1e-4)
    return interleaved_medians(
        {
            "ours (one mixed forward)": ours,
            "PEFT mixed batch (adapter_names=)": peft_mixed,
            "base layer, no adapters": lambda: ours_layer.base(x),
        },
        repeats * 4,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--adapters", type=int, default=16)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    run(args.rows, args.adapters, args.rank, args.repeats)


if __name__ == "__main__":
    main()
