"""Progressive quantisation-aware training and int8 weight-only inference.

Training moves through three stages (`QuantSchedule`, run by `fit_progressive` with the
engine's training loop): full fp32, then half-precision autocast, then int8 fake-quantised
weights. In the int8 phase every quantised weight passes
through `FakeQuantInt8`: symmetric per-output-channel int8 rounding with a straight-through
gradient, its range an exponential moving average of the channel's absolute maximum, so the
network learns weights that survive rounding. `quantize_model` then swaps the layers in place
for int8 inference (`Int8Linear` through ``engine.kernels.int8_matmul``, `Int8RoutedExperts`
dequantising the stacked expert weights for ``engine.kernels.fused_moe``), using the ranges
learned in training where there are some, and `export_int8` gives that model's state.

Quantised: every ``nn.Linear`` of the trunk (attention, shared experts) and the routed
experts' stacked weights. Kept in float: embeddings, norms, the router and the output heads,
which are small and decide which experts run and what the scores are (and heads stay plain
``nn.Linear`` layers that tenant adapters may replace per row).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from engine import kernels
from engine.moe import RoutedExperts
from engine.train import fit

__all__ = [
    "INT8_MAX",
    "FakeQuantInt8",
    "Int8Linear",
    "Int8RoutedExperts",
    "QuantSchedule",
    "attach_fake_quant",
    "export_int8",
    "fit_progressive",
    "quantize_model",
    "quantize_per_channel",
    "remove_fake_quant",
    "weight_bytes",
]

INT8_MAX = 127
# Modules whose weights stay in float (see the module docstring).
_KEEP_FLOAT = ("router", "heads")


def quantize_per_channel(weight: torch.Tensor, absmax: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 quantisation of ``weight`` per output channel; (int8 weight, scale).

    ``weight`` is (Dout, Din) or stacked (E, Din, Dout): the range is taken over the input
    dimension (dim -1 for a matrix, dim 1 for a stack), so scale is (Dout, 1) or (E, 1, Dout).
    ``absmax`` overrides the measured range (the EMA ranges learned in training).
    """
    reduce_dim = -1 if weight.dim() == 2 else 1
    if absmax is None:
        absmax = weight.detach().abs().amax(dim=reduce_dim, keepdim=True)
    scale = (absmax.to(torch.float32) / INT8_MAX).clamp(min=1e-12)
    q = torch.clamp(torch.round(weight.detach().to(torch.float32) / scale), -INT8_MAX, INT8_MAX)
    return q.to(torch.int8), scale


class FakeQuantInt8(nn.Module):
    """Parametrization: the weight as int8 would store it, with straight-through gradients.

    The channel range is an EMA of the channel's absolute maximum, updated in training mode.
    Gradients pass unchanged to weights inside the range and stop at weights clipped by it.
    """

    def __init__(self, weight: torch.Tensor, momentum: float = 0.9) -> None:
        super().__init__()
        self.reduce_dim = -1 if weight.dim() == 2 else 1
        self.momentum = momentum
        self.register_buffer("absmax", weight.detach().abs().amax(dim=self.reduce_dim, keepdim=True).float())

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                current = weight.detach().abs().amax(dim=self.reduce_dim, keepdim=True).float()
                # lerp leaves an unchanged range exactly unchanged (a*m + a*(1-m) may not).
                self.absmax.lerp_(current, 1 - self.momentum)
        limit = self.absmax.to(weight.dtype)
        # clamp's gradient is 1 up to and including the bounds (the channel maximum itself).
        clipped = torch.clamp(weight, -limit, limit)
        scale = (limit / INT8_MAX).clamp(min=1e-12)
        rounded = torch.round(clipped / scale).clamp(-INT8_MAX, INT8_MAX) * scale
        return clipped + (rounded - clipped).detach()


def _quantizable(model: nn.Module) -> Iterator[tuple[str, nn.Module, list[str]]]:
    """(path, module, names of its weights to quantise) for every quantised module."""
    for path, module in model.named_modules():
        if any(part in _KEEP_FLOAT for part in path.split(".")):
            continue
        if isinstance(module, nn.Linear):
            yield path, module, ["weight"]
        elif isinstance(module, RoutedExperts):
            yield path, module, ["w_gate_up", "w_down"]


def attach_fake_quant(model: nn.Module, momentum: float = 0.9) -> int:
    """Put `FakeQuantInt8` on every quantised weight of ``model``; the number of weights."""
    count = 0
    for _, module, names in list(_quantizable(model)):
        for name in names:
            if parametrize.is_parametrized(module, name):
                continue
            parametrize.register_parametrization(module, name, FakeQuantInt8(getattr(module, name), momentum))
            count += 1
    return count


def remove_fake_quant(model: nn.Module) -> dict[str, torch.Tensor]:
    """Take the fake quantisation off (float weights kept); the learned ranges by weight path."""
    ranges: dict[str, torch.Tensor] = {}
    for path, module in list(model.named_modules()):
        if not parametrize.is_parametrized(module):
            continue
        for name in list(module.parametrizations.keys()):  # type: ignore[union-attr]
            for fake in module.parametrizations[name]:  # type: ignore[index]
                if isinstance(fake, FakeQuantInt8):
                    ranges[f"{path}.{name}" if path else name] = fake.absmax.detach().clone()
            parametrize.remove_parametrizations(module, name, leave_parametrized=False)
    return ranges


@dataclass
class QuantSchedule:
    """How training moves through the precisions, as fractions of the epochs.

    fp32 until ``half_from``, then half-precision autocast (bf16 where supported) until
    ``int8_from``, then int8 fake-quantised weights, still under autocast, to the end.
    """

    half_from: float = 0.3
    int8_from: float = 0.6
    ema_momentum: float = 0.9

    def __post_init__(self) -> None:
        if not 0.0 <= self.half_from <= self.int8_from < 1.0:
            raise ValueError("QuantSchedule needs 0 <= half_from <= int8_from < 1")

    def stage_epochs(self, epochs: int) -> tuple[int, int, int]:
        """Epochs of the fp32, half and int8 stages; the int8 stage gets at least one."""
        if epochs < 1:
            raise ValueError("progressive training needs at least one epoch")
        fp32 = min(round(epochs * self.half_from), epochs - 1)
        half = min(round(epochs * self.int8_from), epochs - 1) - fp32
        return fp32, half, epochs - fp32 - half


def fit_progressive(
    model: nn.Module,
    train_loader: Iterable[dict[str, torch.Tensor]],
    valid_loader: Iterable[dict[str, torch.Tensor]],
    *,
    epochs: int,
    schedule: QuantSchedule | None = None,
    **fit_options: Any,
) -> list[Any]:
    """Quantisation-aware training with the engine's loop (`engine.train.fit`), stage by stage.

    Each stage is one ``fit`` call (its best epoch kept): fp32, then with ``amp``, then with
    `FakeQuantInt8` on every quantised weight and ``amp``. ``fit_options`` go to every stage
    (lr, metric_fn, progress...; not checkpoint_dir, as a resume would mix stages). Returns
    the stages' FitResults; afterwards `quantize_model` serves the model in int8 with the
    ranges it learned.
    """
    if "checkpoint_dir" in fit_options or "amp" in fit_options:
        raise ValueError("fit_progressive sets amp per stage and does not resume from checkpoints")
    schedule = schedule or QuantSchedule()
    fp32, half, int8 = schedule.stage_epochs(epochs)
    results = []
    for stage_epochs, amp, fake_quant in ((fp32, False, False), (half, True, False), (int8, True, True)):
        if stage_epochs == 0:
            continue
        if fake_quant:
            attach_fake_quant(model, schedule.ema_momentum)
        results.append(fit(model, train_loader, valid_loader, epochs=stage_epochs, amp=amp, **fit_options))
    return results


class Int8Linear(nn.Module):
    """A linear layer stored as int8 weights with a float scale per output channel."""

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(out_features, dtype=torch.float32))
        self.register_buffer("bias", torch.zeros(out_features, dtype=dtype) if bias else None)

    @classmethod
    def from_linear(cls, linear: nn.Linear, absmax: torch.Tensor | None = None) -> Int8Linear:
        layer = cls(linear.in_features, linear.out_features, linear.bias is not None, linear.weight.dtype)
        weight_int8, scale = quantize_per_channel(linear.weight, absmax)
        layer.to(linear.weight.device)
        layer.weight_int8.copy_(weight_int8)
        layer.scale.copy_(scale.squeeze(1))
        if linear.bias is not None:
            layer.bias.copy_(linear.bias.detach())
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        out = kernels.int8_matmul(flat, self.weight_int8, self.scale, self.bias)
        return out.view(*x.shape[:-1], self.out_features)


class Int8RoutedExperts(nn.Module):
    """Routed experts stored as int8 stacks, dequantised per call for ``fused_moe``.

    On the CPU (the torch reference) this saves memory, not time; the Triton path is where
    weight-only int8 pays.
    """

    def __init__(self, experts: RoutedExperts, ranges: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.n_experts = experts.n_experts
        ranges = ranges or {}
        for name in ("w_gate_up", "w_down"):
            weight_int8, scale = quantize_per_channel(getattr(experts, name), ranges.get(name))
            self.register_buffer(f"{name}_int8", weight_int8)
            self.register_buffer(f"{name}_scale", scale)
        self.dtype = experts.w_gate_up.dtype

    def _dequantized(self, name: str) -> torch.Tensor:
        return getattr(self, f"{name}_int8").to(self.dtype) * getattr(self, f"{name}_scale").to(self.dtype)

    def forward(self, x: torch.Tensor, topk_ids: torch.Tensor, topk_weights: torch.Tensor) -> torch.Tensor:
        w_gate_up = self._dequantized("w_gate_up")
        w_down = self._dequantized("w_down").expand(self.n_experts, -1, -1)
        return kernels.fused_moe(x, w_gate_up.to(x.dtype), w_down.to(x.dtype), topk_ids, topk_weights)


def quantize_model(model: nn.Module) -> dict[str, int]:
    """Swap ``model``'s quantised layers for int8 ones, in place; weight bytes before/after.

    Ranges learned by fake-quantised training are used where present (and the fake
    quantisation removed); other layers take their weights' absolute maxima.
    """
    before = weight_bytes(model)
    ranges = remove_fake_quant(model)
    for path, module, _ in list(_quantizable(model)):
        prefix = f"{path}." if path else ""
        if isinstance(module, nn.Linear):
            replacement: nn.Module = Int8Linear.from_linear(module, ranges.get(f"{prefix}weight"))
        else:
            own = {name: ranges[f"{prefix}{name}"] for name in ("w_gate_up", "w_down") if f"{prefix}{name}" in ranges}
            replacement = Int8RoutedExperts(module, own)  # type: ignore[arg-type]
        parent_path, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent_path) if parent_path else model, name, replacement)
    return {"weight_bytes_before": before, "weight_bytes_after": weight_bytes(model)}


def export_int8(model: nn.Module) -> dict[str, torch.Tensor]:
    """The int8 model's state (int8 weights, their scales, the float rest); ``model`` unchanged.

    Load it with ``quantize_model(MoETransformer(config))`` then ``load_state_dict(state)``.
    """
    quantized = copy.deepcopy(model)
    quantize_model(quantized)
    return {key: value.detach().contiguous() for key, value in quantized.state_dict().items()}


def weight_bytes(model: nn.Module) -> int:
    """Bytes of all parameters and buffers (what serving a model holds in memory)."""
    tensors = list(model.parameters()) + [b for b in model.buffers() if b is not None]
    return sum(t.numel() * t.element_size() for t in tensors)
