"""Benchmark of the engine's kernels against their peers: `python -m engine.bench.kernels`.

On CUDA it measures the Triton kernels (fused MoE, multi-LoRA, int8 weight-only matmul)
across batch sizes from 1 to 16k tokens, in TFLOP/s and GB/s and as fractions of the
device's own peaks, which it measures first (a large bfloat16 torch.matmul and a large
copy). Peers: the torch reference of each kernel, torch._grouped_mm for the MoE, PEFT's
mixed-adapter batch for LoRA, and a plain bfloat16 matmul for int8. It writes
docs/benchmarks/kernels.json and kernels.md and checks the aims of issue 4.

Without CUDA the Triton kernels cannot run natively, so it times the torch references
(the CPU production path) and the CPU peers at small sizes and says so in the report.
`--interpreted-kernels` (with TRITON_INTERPRET=1) also runs the Triton kernels in Triton's
CPU interpreter: the timings mean nothing, but every code path of the GPU benchmark runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from engine.kernels import reference

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks"

# GPU aims from issue 4.
AIM_MOE_LARGE_MATMUL_FRACTION = 0.60  # at >= 4096 tokens, of the measured bf16 matmul peak
AIM_MOE_SMALL_BANDWIDTH_FRACTION = 0.50  # at <= 64 tokens, of the measured copy bandwidth
AIM_LORA_MAX_OVERHEAD = 0.15  # 32 adapters of rank 16, added to the base layer's time
AIM_INT8_MIN_SPEEDUP = 1.6  # over bf16, at <= 16 tokens


@dataclass(frozen=True)
class MoECase:
    experts: int
    width: int
    hidden: int
    top_k: int = 3

    @property
    def label(self) -> str:
        return f"E={self.experts} D={self.width} F={self.hidden} top-{self.top_k}"


@dataclass(frozen=True)
class Plan:
    """What to measure: sizes, dtype, and which implementations can run here."""

    device: torch.device
    dtype: torch.dtype
    moe_cases: tuple[MoECase, ...]
    moe_tokens: tuple[int, ...]
    lora_widths: tuple[int, ...]
    lora_rows: tuple[int, ...]
    lora_adapters: int
    lora_rank: int
    int8_widths: tuple[int, ...]
    int8_rows: tuple[int, ...]
    run_triton: bool
    min_time_s: float
    peak_matmul_size: int
    peak_copy_elements: int


def gpu_plan(device: torch.device) -> Plan:
    return Plan(
        device=device,
        dtype=torch.bfloat16,
        moe_cases=(MoECase(8, 4096, 4096), MoECase(64, 2048, 1024), MoECase(64, 1024, 512)),
        moe_tokens=(1, 16, 64, 256, 1024, 4096, 16384),
        lora_widths=(1024, 4096),
        lora_rows=(1, 16, 64, 256, 1024, 4096, 16384),
        lora_adapters=32,
        lora_rank=16,
        int8_widths=(1024, 4096),
        int8_rows=(1, 4, 16, 64, 256, 1024, 4096, 16384),
        run_triton=True,
        min_time_s=0.2,
        peak_matmul_size=8192,
        peak_copy_elements=1 << 30,  # 2 GiB of bf16 each way
    )


def cpu_plan(run_triton: bool, quick: bool) -> Plan:
    if quick:
        return Plan(
            device=torch.device("cpu"),
            dtype=torch.float32,
            moe_cases=(MoECase(8, 32, 16),),
            moe_tokens=(1, 33),
            lora_widths=(32,),
            lora_rows=(1, 33),
            lora_adapters=4,
            lora_rank=4,
            int8_widths=(32,),
            int8_rows=(1, 33),
            run_triton=run_triton,
            min_time_s=0.0,
            peak_matmul_size=128,
            peak_copy_elements=1 << 16,
        )
    return Plan(
        device=torch.device("cpu"),
        dtype=torch.float32,
        moe_cases=(MoECase(8, 256, 512), MoECase(16, 128, 256)),
        moe_tokens=(1, 8, 64, 512),
        lora_widths=(128, 512),
        lora_rows=(1, 16, 256),
        lora_adapters=16,
        lora_rank=16,
        int8_widths=(256, 1024),
        int8_rows=(1, 16, 64),
        run_triton=run_triton,
        min_time_s=0.1,
        peak_matmul_size=1024,
        peak_copy_elements=1 << 24,
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_L2_FLUSH: dict[torch.device, torch.Tensor] = {}


def _l2_flush_buffer(device: torch.device) -> torch.Tensor:
    # 256 MiB, larger than any GPU's L2, written before each timed call.
    if device not in _L2_FLUSH:
        _L2_FLUSH[device] = torch.empty(64 << 20, dtype=torch.int32, device=device)
    return _L2_FLUSH[device]


def time_call(fn: Callable[[], object], device: torch.device, min_time_s: float) -> float:
    """Seconds per call: one warm-up call, then repeats for at least min_time_s.

    The median on a GPU; the best repeat on the CPU, which other work shares, so that noise
    added by other processes does not count.
    """
    fn()
    _synchronize(device)
    samples: list[float] = []
    started = time.perf_counter()
    while len(samples) < 3 or time.perf_counter() - started < min_time_s:
        if device.type == "cuda":
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            _l2_flush_buffer(device).zero_()  # weights must come from memory, not L2
            begin.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(begin.elapsed_time(end) / 1e3)
        else:
            begin_s = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - begin_s)
        if len(samples) >= 1000:
            break
    return statistics.median(samples) if device.type == "cuda" else min(samples)


def measure_peaks(plan: Plan) -> dict[str, float]:
    """The device's own matmul throughput and copy bandwidth, the ceilings used below."""
    size = plan.peak_matmul_size
    a = torch.randn(size, size, device=plan.device).to(plan.dtype)
    b = torch.randn(size, size, device=plan.device).to(plan.dtype)
    matmul_s = time_call(partial(torch.matmul, a, b), plan.device, plan.min_time_s)
    elements = plan.peak_copy_elements
    src = torch.empty(elements, dtype=plan.dtype, device=plan.device)
    dst = torch.empty_like(src)
    copy_s = time_call(partial(dst.copy_, src), plan.device, plan.min_time_s)
    del a, b, src, dst
    return {
        "matmul_tflops": 2 * size**3 / matmul_s / 1e12,
        "copy_gbps": 2 * elements * torch.empty((), dtype=plan.dtype).element_size() / copy_s / 1e9,
    }


def _row(
    kernel: str, config: str, tokens: int, impl: str, seconds: float, flops: float,
    bytes_moved: float, peaks: dict[str, float], error: float | None,
) -> dict[str, object]:
    tflops = flops / seconds / 1e12
    gbps = bytes_moved / seconds / 1e9
    return {
        "kernel": kernel, "config": config, "tokens": tokens, "impl": impl,
        "ms": seconds * 1e3, "tflops": tflops, "gbps": gbps,
        "matmul_peak_fraction": tflops / peaks["matmul_tflops"],
        "bandwidth_fraction": gbps / peaks["copy_gbps"],
        "max_abs_err_vs_reference": error,
    }


def _max_error(out: torch.Tensor, expected: torch.Tensor) -> float:
    return float((out.float() - expected.float()).abs().max())


def _unavailable(kernel: str, config: str, tokens: int, impl: str, reason: Exception) -> dict[str, object]:
    return {"kernel": kernel, "config": config, "tokens": tokens, "impl": impl,
            "unavailable": f"{type(reason).__name__}: {str(reason).splitlines()[0][:160]}"}


def bench_fused_moe(plan: Plan, peaks: dict[str, float]) -> list[dict[str, object]]:
    from engine.kernels import triton_fused_moe

    rows: list[dict[str, object]] = []
    dev, dtype = plan.device, plan.dtype
    for case in plan.moe_cases:
        w_gate_up = (torch.randn(case.experts, case.width, 2 * case.hidden, device=dev) / case.width**0.5).to(dtype)
        w_down = (torch.randn(case.experts, case.hidden, case.width, device=dev) / case.hidden**0.5).to(dtype)
        expert_bytes = 3 * case.width * case.hidden * w_gate_up.element_size()
        for tokens in plan.moe_tokens:
            x = torch.randn(tokens, case.width, device=dev).to(dtype)
            topk_ids = torch.rand(tokens, case.experts, device=dev).argsort(dim=1)[:, : case.top_k].contiguous()
            topk_weights = torch.rand(tokens, case.top_k, device=dev).softmax(dim=1).to(dtype)
            args = (x, w_gate_up, w_down, topk_ids, topk_weights)
            flops = 6.0 * tokens * case.top_k * case.width * case.hidden
            touched = int(torch.unique(topk_ids).numel())
            bytes_moved = touched * expert_bytes + 2 * x.numel() * x.element_size()
            expected = reference.fused_moe(*args)
            impls: dict[str, Callable[[], torch.Tensor]] = {"torch reference": partial(reference.fused_moe, *args)}
            if hasattr(torch, "_grouped_mm"):
                impls["torch._grouped_mm"] = partial(reference._moe_grouped_mm, *args)
            if plan.run_triton:
                impls["triton"] = partial(triton_fused_moe.fused_moe, *args)
            reference_s = None
            for impl, fn in impls.items():
                try:
                    error = _max_error(fn(), expected)
                    seconds = time_call(fn, dev, plan.min_time_s)
                except RuntimeError as exc:  # a peer that refuses these shapes or this device
                    rows.append(_unavailable("fused_moe", case.label, tokens, impl, exc))
                    continue
                reference_s = reference_s or seconds  # the reference is measured first
                row = _row("fused_moe", case.label, tokens, impl, seconds, flops, bytes_moved, peaks, error)
                row["speedup_vs_reference"] = reference_s / seconds
                rows.append(row)
            del x, expected
    return rows


class _Projection(nn.Module):
    """One linear layer named like an attention projection, for PEFT to wrap."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def _peft_model(width: int, adapters: int, rank: int, plan: Plan) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["proj"], init_lora_weights=False)
    model = get_peft_model(_Projection(width), config, adapter_name="a0")
    for index in range(1, adapters):
        model.add_adapter(f"a{index}", config)
    return model.to(device=plan.device, dtype=plan.dtype).eval()


def _base_then_lora(
    lora_fn: Callable[..., torch.Tensor], x: torch.Tensor, weight: torch.Tensor, *lora_args: torch.Tensor
) -> torch.Tensor:
    # The base layer and the adapters together, as a LoRA-wrapped projection runs them.
    return lora_fn(x, torch.nn.functional.linear(x, weight), *lora_args)


def bench_multi_lora(plan: Plan, peaks: dict[str, float]) -> list[dict[str, object]]:
    from engine.kernels import triton_multi_lora

    rows: list[dict[str, object]] = []
    dev = plan.device
    adapters, rank = plan.lora_adapters, plan.lora_rank
    for width in plan.lora_widths:
        model = _peft_model(width, adapters, rank, plan)
        layer = model.base_model.model.proj
        weight = layer.base_layer.weight  # (Dout, Din)
        lora_a = torch.stack([layer.lora_A[f"a{i}"].weight.T for i in range(adapters)]).contiguous()
        lora_b = torch.stack([layer.lora_B[f"a{i}"].weight.T for i in range(adapters)]).contiguous()
        scaling = torch.tensor([layer.scaling[f"a{i}"] for i in range(adapters)], device=dev)
        config = f"D={width} {adapters} adapters r={rank}"
        for tokens in plan.lora_rows:
            x = torch.randn(tokens, width, device=dev).to(plan.dtype)
            # Every adapter in use and an eighth of the rows without one, spread over the batch.
            adapter_ids = torch.randint(0, adapters, (tokens,), device=dev)
            adapter_ids[torch.rand(tokens, device=dev) < 0.125] = -1
            names = ["__base__" if a < 0 else f"a{a}" for a in adapter_ids.tolist()]
            base_out = x @ weight.T
            flops_base = 2.0 * tokens * width * width
            flops_lora = 2.0 * int((adapter_ids >= 0).sum()) * rank * 2 * width
            bytes_base = weight.numel() * weight.element_size() + 2 * base_out.numel() * base_out.element_size()
            used = int(torch.unique(adapter_ids[adapter_ids >= 0]).numel())
            bytes_lora = used * 2 * width * rank * weight.element_size() + 3 * base_out.numel() * base_out.element_size()
            expected = reference.multi_lora(x, base_out, lora_a, lora_b, adapter_ids, scaling)
            base_s = time_call(partial(torch.nn.functional.linear, x, weight), dev, plan.min_time_s)
            rows.append(_row("multi_lora", config, tokens, "base layer matmul", base_s, flops_base,
                             bytes_base, peaks, None))
            lora_args = (x, weight, lora_a, lora_b, adapter_ids, scaling)
            impls: dict[str, Callable[[], torch.Tensor]] = {
                "torch reference": partial(_base_then_lora, reference.multi_lora, *lora_args),
                "peft mixed batch": partial(model, x, adapter_names=names),
            }
            if plan.run_triton:
                impls["triton"] = partial(_base_then_lora, triton_multi_lora.multi_lora, *lora_args)
            for impl, fn in impls.items():
                error = _max_error(fn(), expected)
                seconds = time_call(fn, dev, plan.min_time_s)
                row = _row("multi_lora", config, tokens, impl, seconds, flops_base + flops_lora,
                           bytes_base + bytes_lora, peaks, error)
                row["overhead_vs_base"] = seconds / base_s - 1.0
                rows.append(row)
        del model
    return rows


def bench_int8(plan: Plan, peaks: dict[str, float]) -> list[dict[str, object]]:
    from engine.kernels import triton_int8

    rows: list[dict[str, object]] = []
    dev = plan.device
    for width in plan.int8_widths:
        w_int8 = torch.randint(-127, 128, (width, width), dtype=torch.int8, device=dev)
        scale = torch.rand(width, device=dev) / (127 * width**0.5) + 1e-4
        bias = torch.randn(width, device=dev).to(plan.dtype)
        w_dense = (w_int8.float() * scale[:, None]).to(plan.dtype)
        config = f"D_in=D_out={width}"
        for tokens in plan.int8_rows:
            x = torch.randn(tokens, width, device=dev).to(plan.dtype)
            flops = 2.0 * tokens * width * width
            io_bytes = 2 * tokens * width * x.element_size()
            expected = reference.int8_matmul(x, w_int8, scale, bias)
            dense_s = time_call(partial(torch.nn.functional.linear, x, w_dense, bias), dev, plan.min_time_s)
            dense_label = f"{str(plan.dtype).removeprefix('torch.')} matmul"
            rows.append(_row("int8_matmul", config, tokens, dense_label, dense_s, flops,
                             w_dense.numel() * w_dense.element_size() + io_bytes, peaks, None))
            impls: dict[str, Callable[[], torch.Tensor]] = {
                "torch reference": partial(reference.int8_matmul, x, w_int8, scale, bias),
            }
            if plan.run_triton:
                impls["triton"] = partial(triton_int8.int8_matmul, x, w_int8, scale, bias)
            for impl, fn in impls.items():
                error = _max_error(fn(), expected)
                seconds = time_call(fn, dev, plan.min_time_s)
                row = _row("int8_matmul", config, tokens, impl, seconds, flops, w_int8.numel() + io_bytes, peaks, error)
                row["speedup_vs_dense"] = dense_s / seconds
                rows.append(row)
    return rows


def check_aims(rows: list[dict[str, object]]) -> list[str]:
    """One line per GPU aim of issue 4: met at every measured size or not, and the worst case."""
    triton_rows = [r for r in rows if r.get("impl") == "triton" and "ms" in r]

    def verdict(name: str, kernel: str, sizes: Callable[[int], bool], key: str,
                limit: float, at_least: bool, fmt: str) -> str:
        measured = [r for r in triton_rows if r["kernel"] == kernel and sizes(r["tokens"])]
        if not measured:
            return f"- {name}: not measured"
        worst = (min if at_least else max)(measured, key=lambda r: r[key])
        failing = sum(1 for r in measured if (r[key] < limit if at_least else r[key] > limit))
        status = f"NOT met at {failing} of {len(measured)} sizes" if failing else "met at every size"
        return (f"- {name}: {status}; worst {fmt.format(worst[key])} "
                f"({worst['config']}, {worst['tokens']} tokens)")

    return [
        verdict("fused MoE at >= 4096 tokens, >= 60% of the bf16 matmul peak", "fused_moe",
                lambda t: t >= 4096, "matmul_peak_fraction", AIM_MOE_LARGE_MATMUL_FRACTION, True, "{:.0%}"),
        verdict("fused MoE at <= 64 tokens, >= 50% of the copy bandwidth", "fused_moe",
                lambda t: t <= 64, "bandwidth_fraction", AIM_MOE_SMALL_BANDWIDTH_FRACTION, True, "{:.0%}"),
        verdict("multi-LoRA (32 adapters, r=16) adds <= 15% to the base layer", "multi_lora",
                lambda t: True, "overhead_vs_base", AIM_LORA_MAX_OVERHEAD, False, "+{:.0%}"),
        verdict("int8 weight-only >= 1.6x bf16 at <= 16 tokens", "int8_matmul",
                lambda t: t <= 16, "speedup_vs_dense", AIM_INT8_MIN_SPEEDUP, True, "{:.2f}x"),
    ]


def _markdown(report: dict[str, object]) -> str:
    lines = [
        "# Kernel benchmark",
        "",
        f"Measured {report['date']} on {report['device']} with `python -m engine.bench.kernels` "
        f"(torch {report['torch']}, triton {report['triton']}, {report['dtype']}).",
        "",
        str(report["note"]),
        "",
        f"Measured peaks: {report['peaks']['matmul_tflops']:.3g} TFLOP/s matmul, "
        f"{report['peaks']['copy_gbps']:.0f} GB/s copy (read + write).",
        "",
    ]
    if report["aims"]:
        lines += ["## Aims (issue 4)", "", *report["aims"], ""]
    titles = {"fused_moe": "Fused MoE", "multi_lora": "Multi-LoRA", "int8_matmul": "int8 weight-only matmul"}
    for kernel, title in titles.items():
        rows = [r for r in report["results"] if r["kernel"] == kernel]
        if not rows:
            continue
        lines += [
            f"## {title}", "",
            "| config | tokens | implementation | ms | TFLOP/s | GB/s | % matmul peak | % bandwidth | vs peer | max abs err |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            if "unavailable" in r:
                lines.append(
                    f"| {r['config']} | {r['tokens']} | {r['impl']}: {r['unavailable']} "
                    "| - | - | - | - | - | - | - |"
                )
                continue
            versus = ""
            if "overhead_vs_base" in r:
                versus = f"+{r['overhead_vs_base']:.0%} over base"
            elif "speedup_vs_dense" in r:
                versus = f"{r['speedup_vs_dense']:.2f}x dense"
            elif "speedup_vs_reference" in r:
                versus = f"{r['speedup_vs_reference']:.2f}x reference"
            error = "" if r["max_abs_err_vs_reference"] is None else f"{r['max_abs_err_vs_reference']:.1e}"
            lines.append(
                f"| {r['config']} | {r['tokens']} | {r['impl']} | {r['ms']:.3f} | {r['tflops']:.3g} | "
                f"{r['gbps']:.0f} | {r['matmul_peak_fraction']:.0%} | {r['bandwidth_fraction']:.0%} | "
                f"{versus} | {error} |"
            )
        lines.append("")
    return "\n".join(lines)


def run(plan: Plan) -> dict[str, object]:
    """Measure everything in the plan; returns the report (also what the JSON holds)."""
    import triton

    with torch.inference_mode():
        peaks = measure_peaks(plan)
        results = bench_fused_moe(plan, peaks) + bench_multi_lora(plan, peaks) + bench_int8(plan, peaks)
    if plan.device.type == "cuda":
        device = torch.cuda.get_device_name(plan.device)
        note = "Triton kernels compiled for this GPU; peers run on the same device."
    else:
        device = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        note = (
            "No CUDA device: the Triton kernels need CUDA, so this table times the torch "
            "references (the CPU production path) and the CPU peers at small sizes, best of "
            "repeats on one thread. The CPU is shared with other work, so its peaks and the "
            "fractions are rough; above 100% the data sat in cache or the peak run was slowed. "
            + ("The 'triton' rows ran in Triton's CPU interpreter and their times mean nothing. "
               if plan.run_triton else "")
            + "Run `python -m engine.bench.kernels` on a GPU machine for the kernel figures and aims."
        )
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device,
        "torch": torch.__version__,
        "triton": triton.__version__,
        "dtype": str(plan.dtype).removeprefix("torch."),
        "note": note,
        "peaks": peaks,
        "aims": check_aims(results) if plan.device.type == "cuda" else [],
        "results": results,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for kernels.json and kernels.md")
    parser.add_argument("--quick", action="store_true", help="CPU only: tiny sizes, a smoke run")
    parser.add_argument("--threads", type=int, default=1, help="CPU only: torch threads (default 1)")
    parser.add_argument(
        "--interpreted-kernels", action="store_true",
        help="CPU only: also run the Triton kernels in the interpreter (needs TRITON_INTERPRET=1)",
    )
    args = parser.parse_args(argv)
    if torch.cuda.is_available():
        plan = gpu_plan(torch.device("cuda"))
    else:
        if args.interpreted_kernels and os.environ.get("TRITON_INTERPRET") != "1":
            parser.error("--interpreted-kernels needs TRITON_INTERPRET=1 in the environment")
        print("No CUDA device: timing the torch references on the CPU; the Triton kernels need CUDA.")
        torch.set_num_threads(args.threads)
        plan = cpu_plan(run_triton=args.interpreted_kernels, quick=args.quick)
    report = run(plan)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "kernels.json").write_text(json.dumps(report, indent=2) + "\n")
    markdown = _markdown(report)
    (args.out / "kernels.md").write_text(markdown + "\n")
    print(markdown)
    return report


if __name__ == "__main__":
    main()
