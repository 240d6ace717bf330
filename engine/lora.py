"""Per-tenant LoRA adapters: PEFT configs, PEFT-format save/load, and mixed-adapter batches.

Adapters are plain PEFT LoRA adapters (``adapter_config.json`` + ``adapter_model.safetensors``):
one trained here with `attach_adapter` + `save_adapter` loads with ``PeftModel.from_pretrained``
on the same base, and one trained with plain PEFT loads here through `load_adapter_weights`,
which reads only those two files, with safetensors, and checks them against the base model.

For serving, `enable_multi_lora` turns a base model into a `MultiLoraModel`: every targeted
``nn.Linear`` becomes a `MultiLoraLinear` holding the loaded adapters stacked in slots, and
``model(batch, adapter_ids=slots)`` applies each row's adapter (slot -1 = base model) in one
forward through ``engine.kernels.multi_lora``. Heads trained alongside the adapter
(``modules_to_save``) are served per row by `MultiSavedLinear`, and a wide n-gram read-out
(``wide.<head>.weight_bag``) by `MultiSavedEmbeddingBag`.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from peft.utils import ModulesToSaveWrapper
from safetensors import SafetensorError, safe_open
from torch import nn

from engine import kernels
from engine.layers import current_adapter_ids

__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_WEIGHTS_FILE",
    "MAX_RANK",
    "AdapterError",
    "MultiLoraLinear",
    "MultiLoraModel",
    "MultiSavedLinear",
    "adapter_nbytes",
    "attach_adapter",
    "default_lora_config",
    "enable_multi_lora",
    "load_adapter_weights",
    "save_adapter",
    "trainable_fraction",
]

ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
MIN_RANK, MAX_RANK = 1, 64
# Attention projections are the only layers an adapter may target (the names PEFT targets).
ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")
# Caps on the files: a LoRA config is a few kilobytes; rank-64 adapters on every projection
# of a large model stay well under the weights cap.
_MAX_CONFIG_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 512 << 20
_PEFT_PREFIX = "base_model.model."
_LORA_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<part>[AB])\.weight$")


class AdapterError(ValueError):
    """An adapter directory or its contents cannot be used; the message says why."""


def default_lora_config(**overrides: Any) -> LoraConfig:
    """The engine's LoRA defaults (r=16, alpha=32, q_proj/v_proj, dropout 0.1), overridable.

    Overrides are the options an admin may set, checked against safe bounds (rank 1..64,
    alpha up to 256, dropout up to 0.5, targets among the attention projections).
    ``modules_to_save=["heads.<name>"]`` trains a head alongside the adapter. No task type is
    set: the engine's models are plain modules called as ``model(batch)``.
    """
    options: dict[str, Any] = {
        "r": 16,
        "lora_alpha": 32,
        "target_modules": ["q_proj", "v_proj"],
        "lora_dropout": 0.1,
        "bias": "none",
    }
    options.update(overrides)
    rank = options["r"]
    if not isinstance(rank, int) or not MIN_RANK <= rank <= MAX_RANK:
        raise AdapterError(f"LoRA rank r={rank} is outside the allowed {MIN_RANK}..{MAX_RANK}")
    if not 0 < options["lora_alpha"] <= 4 * MAX_RANK:
        raise AdapterError(f"lora_alpha={options['lora_alpha']} must be in (0, {4 * MAX_RANK}]")
    if not 0.0 <= options["lora_dropout"] <= 0.5:
        raise AdapterError(f"lora_dropout={options['lora_dropout']} must be in [0, 0.5]")
    targets = options["target_modules"]
    if isinstance(targets, str) or not set(targets) <= set(ATTENTION_PROJECTIONS):
        raise AdapterError(f"target_modules must be among {', '.join(ATTENTION_PROJECTIONS)}, got {targets!r}")
    return LoraConfig(**options)


def attach_adapter(model: nn.Module, config: LoraConfig | None = None) -> PeftModel:
    """Wrap ``model`` in a trainable PEFT LoRA model (its base weights frozen, in place)."""
    return get_peft_model(model, config or default_lora_config())


def trained_copy(module: nn.Module) -> nn.Module:
    """The copy of a `modules_to_save` module that the active PEFT adapter trains, or the
    module itself when no adapter wraps it."""
    if isinstance(module, ModulesToSaveWrapper):
        return module.modules_to_save[module.active_adapter]
    return module


def trainable_fraction(model: nn.Module) -> tuple[int, int]:
    """(trainable parameters, all parameters) of ``model``."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def save_adapter(peft_model: PeftModel, directory: str | Path, adapter_name: str = "default") -> Path:
    """Write exactly ``adapter_config.json`` + ``adapter_model.safetensors`` to ``directory``.

    PEFT's own ``save_pretrained`` writes them (so plain PEFT reads them back); the model card
    README it adds beside them is left out, since imports accept those two files only.
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as staging:
        peft_model.save_pretrained(staging, selected_adapters=[adapter_name], safe_serialization=True)
        # PEFT puts a non-default adapter in a subfolder of its name.
        written = Path(staging) if adapter_name == "default" else Path(staging) / adapter_name
        for name in (ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE):
            shutil.move(str(written / name), str(target / name))
    return target


def load_adapter_weights(
    directory: str | Path, base_model: nn.Module | None = None
) -> tuple[LoraConfig, dict[str, torch.Tensor]]:
    """Read and check a PEFT LoRA adapter directory; (its LoraConfig, its tensors by PEFT key).

    Accepted: exactly ``adapter_config.json`` and ``adapter_model.safetensors``, a LoRA config
    with rank 1..64 and plain LoRA features, tensors named as PEFT names them, LoRA only on the
    attention projections (the layers the server adapts per row). With
    ``base_model`` also checked: every target module exists in the base as an ``nn.Linear``
    and every tensor's shape fits the module it adapts. Anything else raises `AdapterError`.
    """
    path = Path(directory)
    if not path.is_dir():
        raise AdapterError(f"adapter directory {path} does not exist")
    _check_files(path)
    config = _read_config(path / ADAPTER_CONFIG_FILE)
    tensors = _read_weights(path / ADAPTER_WEIGHTS_FILE)
    lora_pairs, saved = _split_keys(tensors, config)
    unservable = sorted(m for m in lora_pairs if m.rpartition(".")[2] not in ATTENTION_PROJECTIONS)
    if unservable:
        raise AdapterError(
            f"adapter puts LoRA on {', '.join(unservable)}; only {', '.join(ATTENTION_PROJECTIONS)} are served"
        )
    if base_model is not None:
        _check_against_base(config, lora_pairs, saved, base_model)
    return config, tensors


def adapter_nbytes(tensors: Mapping[str, torch.Tensor]) -> int:
    """Bytes held by an adapter's tensors (what an adapter cache counts)."""
    return sum(t.numel() * t.element_size() for t in tensors.values())


def _check_files(path: Path) -> None:
    present = {entry.name for entry in path.iterdir()}
    expected = {ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE}
    missing = sorted(expected - present)
    if missing:
        raise AdapterError(f"adapter is missing {', '.join(missing)}")
    extra = sorted(present - expected)
    if extra:
        raise AdapterError(
            f"adapter holds files other than {ADAPTER_CONFIG_FILE} and {ADAPTER_WEIGHTS_FILE}: "
            f"{', '.join(extra)}"
        )
    for name in expected:
        entry = path / name
        if entry.is_symlink() or not entry.is_file():
            raise AdapterError(f"{name} must be a regular file")


def _read_config(path: Path) -> LoraConfig:
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise AdapterError(f"{ADAPTER_CONFIG_FILE} is larger than {_MAX_CONFIG_BYTES} bytes")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{ADAPTER_CONFIG_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise AdapterError(f"{ADAPTER_CONFIG_FILE} must hold a JSON object")
    if raw.get("peft_type") != "LORA":
        raise AdapterError(f"only LoRA adapters are accepted, got peft_type={raw.get('peft_type')!r}")
    rank = raw.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or not MIN_RANK <= rank <= MAX_RANK:
        raise AdapterError(f"LoRA rank r={rank!r} is outside the allowed {MIN_RANK}..{MAX_RANK}")
    alpha = raw.get("lora_alpha")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha <= 1e4:
        raise AdapterError(f"lora_alpha={alpha!r} must be a positive number")
    # Features beyond plain LoRA change the forward and are not served by the engine.
    unsupported = {
        "use_dora": lambda v: bool(v),
        "lora_bias": lambda v: bool(v),
        "fan_in_fan_out": lambda v: bool(v),
        "rank_pattern": lambda v: bool(v),
        "alpha_pattern": lambda v: bool(v),
        "layer_replication": lambda v: bool(v),
        "target_parameters": lambda v: bool(v),
        "trainable_token_indices": lambda v: bool(v),
        "use_qalora": lambda v: bool(v),
        "bias": lambda v: v not in (None, "none"),
    }
    for key, is_set in unsupported.items():
        if is_set(raw.get(key)):
            raise AdapterError(f"adapter uses {key}={raw[key]!r}, which the engine does not serve")
    known = set(LoraConfig.__dataclass_fields__)
    try:
        return LoraConfig(**{k: v for k, v in raw.items() if k in known})
    except (TypeError, ValueError) as exc:
        raise AdapterError(f"{ADAPTER_CONFIG_FILE} is not a valid LoRA config: {exc}") from exc


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise AdapterError(f"{ADAPTER_WEIGHTS_FILE} is larger than {MAX_WEIGHTS_BYTES >> 20} MB")
    with path.open("rb") as handle:
        magic = handle.read(2)
    # torch.save files are zip archives ("PK") or raw pickles (protocol byte 0x80).
    if magic == b"PK" or magic[:1] == b"\x80":
        raise AdapterError(f"{ADAPTER_WEIGHTS_FILE} is a pickle/torch.save file; only safetensors is accepted")
    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt") as weights:
            for key in weights.keys():
                tensors[key] = weights.get_tensor(key)
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdapterError(f"{ADAPTER_WEIGHTS_FILE} is not a readable safetensors file: {exc}") from exc
    if not tensors:
        raise AdapterError(f"{ADAPTER_WEIGHTS_FILE} holds no tensors")
    for key, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise AdapterError(f"tensor {key} has dtype {tensor.dtype}; adapter weights must be floating point")
        if not torch.isfinite(tensor).all():
            raise AdapterError(f"tensor {key} holds NaN or infinite values")
    return tensors


def _saved_module_names(config: LoraConfig) -> list[str]:
    return list(config.modules_to_save or [])


def _inside_saved_module(module: str, saved_names: list[str]) -> bool:
    """Whether ``module`` is, or lies inside, a module that modules_to_save names (by suffix)."""
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if any(prefix == name or prefix.endswith("." + name) for name in saved_names):
            return True
    return False


def _split_keys(
    tensors: Mapping[str, torch.Tensor], config: LoraConfig
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict[str, dict[str, torch.Tensor]]]:
    """LoRA (A, B) pairs by module path, and the saved whole modules' tensors by module path."""
    halves: dict[str, dict[str, torch.Tensor]] = {}
    saved: dict[str, dict[str, torch.Tensor]] = {}
    saved_names = _saved_module_names(config)
    for key, tensor in tensors.items():
        match = _LORA_KEY.match(key)
        if match:
            halves.setdefault(match["module"], {})[match["part"]] = tensor
            continue
        if key.startswith(_PEFT_PREFIX) and key.count(".") >= 3:
            module, _, param = key[len(_PEFT_PREFIX) :].rpartition(".")
            if param in ("weight", "bias") and _inside_saved_module(module, saved_names):
                saved.setdefault(module, {})[param] = tensor
                continue
        raise AdapterError(f"unexpected tensor {key!r}: not a LoRA weight or a module listed in modules_to_save")
    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for module, parts in halves.items():
        if set(parts) != {"A", "B"}:
            raise AdapterError(f"module {module} has lora_A without lora_B or the reverse")
        lora_a, lora_b = parts["A"], parts["B"]
        if lora_a.dim() != 2 or lora_b.dim() != 2:
            raise AdapterError(f"module {module}: LoRA weights must be matrices")
        if lora_a.shape[0] != config.r or lora_b.shape[1] != config.r:
            raise AdapterError(
                f"module {module}: LoRA shapes {tuple(lora_a.shape)} / {tuple(lora_b.shape)} "
                f"do not have the configured rank r={config.r}"
            )
        pairs[module] = (lora_a, lora_b)
    if not pairs:
        raise AdapterError("adapter holds no LoRA weights")
    return pairs, saved


def _check_against_base(
    config: LoraConfig,
    pairs: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    saved: Mapping[str, Mapping[str, torch.Tensor]],
    base_model: nn.Module,
) -> None:
    modules = dict(base_model.named_modules())
    targets = config.target_modules
    names = [targets] if isinstance(targets, str) else sorted(targets or [])
    for name in names:
        if isinstance(targets, str):
            found = any(re.fullmatch(name, path) for path in modules)
        else:
            found = any(path == name or path.endswith("." + name) for path in modules)
        if not found:
            raise AdapterError(f"target module {name!r} does not exist in the base model")
    for path, (lora_a, lora_b) in pairs.items():
        linear = _base_linear(modules.get(path))
        if linear is None:
            raise AdapterError(f"adapter targets {path}, which is not a linear layer of the base model")
        if lora_a.shape[1] != linear.in_features or lora_b.shape[0] != linear.out_features:
            raise AdapterError(
                f"module {path}: LoRA shapes {tuple(lora_a.shape)} / {tuple(lora_b.shape)} do not fit "
                f"a {linear.in_features}->{linear.out_features} layer"
            )
    for path, params in saved.items():
        module = _unwrapped(modules.get(path))
        if module is None:
            raise AdapterError(f"adapter saves module {path}, which does not exist in the base model")
        own = dict(module.named_parameters(recurse=False))
        for param, tensor in params.items():
            if param not in own or own[param].shape != tensor.shape:
                raise AdapterError(f"module {path}: saved {param} of shape {tuple(tensor.shape)} does not fit the base")


def _base_linear(module: nn.Module | None) -> nn.Linear | None:
    if isinstance(module, (MultiLoraLinear, MultiSavedLinear)):
        return module.base
    return module if isinstance(module, nn.Linear) else None


def _unwrapped(module: nn.Module | None) -> nn.Module | None:
    """The base model's own module under a serving wrapper (or the module itself)."""
    if isinstance(module, (MultiLoraLinear, MultiSavedLinear, MultiSavedEmbeddingBag)):
        return module.base
    return module


# ---------------------------------------------------------------------------------------------
# Mixed-adapter batches
# ---------------------------------------------------------------------------------------------

def _token_slots(x: torch.Tensor, present: torch.Tensor, layer: str) -> torch.Tensor | None:
    """Slot per row of the flattened (N, D) view of ``x`` (B, ..., D), -1 where the row's
    adapter does not adapt this layer (``present`` (L,) marks the slots that do); None when
    no row needs this layer's adapters."""
    slots = current_adapter_ids()
    if slots is None:
        return None
    batch = slots.shape[0]
    if x.dim() < 2 or x.shape[0] != batch:
        raise ValueError(f"{layer}: input of shape {tuple(x.shape)} does not have the batch's {batch} rows first")
    slots = slots.to(x.device)
    # Decided per row (B), then spread over the row's tokens: cheaper than per token.
    slots = torch.where((slots >= 0) & present[slots.clamp(min=0)], slots, -1)
    if not bool((slots >= 0).any()):
        return None
    per_row = x[0, ..., 0].numel() if x.dim() > 2 else 1
    return slots.repeat_interleave(per_row) if per_row > 1 else slots


class MultiLoraLinear(nn.Module):
    """A frozen linear layer plus up to ``max_adapters`` LoRA adapters applied per row.

    Buffers: lora_a (L, Din, R), lora_b (L, R, Dout), scaling (L,); an adapter of rank below
    R is zero-padded, which adds nothing to its product. ``present`` (L,) marks the slots
    that adapt this layer, so rows of other slots skip the low-rank product.
    """

    def __init__(self, base: nn.Linear, max_adapters: int, rank: int) -> None:
        super().__init__()
        self.base = base
        self.name = ""
        weight = base.weight
        factory = {"device": weight.device, "dtype": weight.dtype}
        self.register_buffer("lora_a", torch.zeros(max_adapters, base.in_features, rank, **factory))
        self.register_buffer("lora_b", torch.zeros(max_adapters, rank, base.out_features, **factory))
        self.register_buffer("scaling", torch.zeros(max_adapters, **factory))
        self.register_buffer("present", torch.zeros(max_adapters, dtype=torch.bool, device=weight.device))
        self.any_present = False  # a Python flag, so layers no adapter touches cost nothing

    @property
    def rank(self) -> int:
        return self.lora_a.shape[2]

    def set_slot(self, slot: int, lora_a: torch.Tensor, lora_b: torch.Tensor, scaling: float) -> None:
        """Load PEFT's lora_A (r, Din) and lora_B (Dout, r) into ``slot``."""
        rank = lora_a.shape[0]
        if rank > self.rank:
            self._grow_rank(rank)
        self.lora_a[slot].zero_()
        self.lora_b[slot].zero_()
        self.lora_a[slot, :, :rank] = lora_a.t().to(self.lora_a.dtype)
        self.lora_b[slot, :rank, :] = lora_b.t().to(self.lora_b.dtype)
        self.scaling[slot] = scaling
        self.present[slot] = True
        self.any_present = True

    def clear_slot(self, slot: int) -> None:
        self.lora_a[slot].zero_()
        self.lora_b[slot].zero_()
        self.scaling[slot] = 0.0
        self.present[slot] = False
        self.any_present = bool(self.present.any())

    def _grow_rank(self, rank: int) -> None:
        slots, d_in, old = self.lora_a.shape
        grown_a = self.lora_a.new_zeros(slots, d_in, rank)
        grown_b = self.lora_b.new_zeros(slots, rank, self.lora_b.shape[2])
        grown_a[:, :, :old] = self.lora_a
        grown_b[:, :old, :] = self.lora_b
        self.lora_a, self.lora_b = grown_a, grown_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if not self.any_present:
            return out
        slots = _token_slots(x, self.present, self.name)
        if slots is None:
            return out
        flat_x = x.reshape(-1, x.shape[-1])
        flat_out = out.reshape(-1, out.shape[-1])
        mixed = kernels.multi_lora(flat_x, flat_out, self.lora_a, self.lora_b, slots, self.scaling)
        return mixed.view_as(out)


class _SavedSlots(nn.Module):
    """A base module that adapters may replace whole (PEFT ``modules_to_save``): its weight per
    slot (L, *weight.shape), and which slots hold one. Subclasses say how a row is computed."""

    def __init__(self, base: nn.Linear | nn.EmbeddingBag, max_adapters: int) -> None:
        super().__init__()
        self.base = base
        self.name = ""
        weight = base.weight
        self.register_buffer("weights", weight.detach().new_zeros(max_adapters, *weight.shape))
        self.register_buffer("present", torch.zeros(max_adapters, dtype=torch.bool, device=weight.device))
        self.any_present = False  # a Python flag, so layers no adapter touches cost nothing

    def set_slot(self, slot: int, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weights[slot] = weight.to(self.weights.dtype)
        self.present[slot] = True
        self.any_present = True

    def clear_slot(self, slot: int) -> None:
        self.weights[slot].zero_()
        self.present[slot] = False
        self.any_present = bool(self.present.any())

    def _replace_rows(self, out: torch.Tensor, slots: torch.Tensor,
                      compute: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """out (N, Dout) with the rows of each present slot (slots (N,), -1 = base) replaced by
        compute(slot, row indices)."""
        for slot in torch.unique(slots[slots >= 0]).tolist():
            rows = torch.nonzero(slots == slot).squeeze(1)
            out = out.index_copy(0, rows, compute(slot, rows).to(out.dtype))
        return out


class MultiSavedLinear(_SavedSlots):
    """A linear layer (a head) that adapters may replace whole: rows whose slot saved it use that
    slot's weight (L, Dout, Din) and bias; other rows use the base layer."""

    def __init__(self, base: nn.Linear, max_adapters: int) -> None:
        super().__init__(base, max_adapters)
        self.register_buffer("biases", base.weight.detach().new_zeros(max_adapters, base.weight.shape[0]))

    def set_slot(self, slot: int, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().set_slot(slot, weight, bias)
        if bias is not None:
            self.biases[slot] = bias.to(self.biases.dtype)
        elif self.base.bias is not None:
            self.biases[slot] = self.base.bias.detach()

    def clear_slot(self, slot: int) -> None:
        super().clear_slot(slot)
        self.biases[slot].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if not self.any_present:
            return out
        slots = _token_slots(x, self.present, self.name)
        if slots is None:
            return out
        flat_x = x.reshape(-1, x.shape[-1])
        flat_out = self._replace_rows(
            out.reshape(-1, out.shape[-1]), slots,
            lambda slot, rows: flat_x.index_select(0, rows) @ self.weights[slot].t() + self.biases[slot],
        )
        return flat_out.view_as(out)


class MultiSavedEmbeddingBag(_SavedSlots):
    """An n-gram bag (a wide read-out, engine.heads.NgramLogits) that adapters may replace whole:
    rows whose slot saved it read that slot's table (L, num_embeddings, dim); other rows the base's."""

    @property
    def embedding_dim(self) -> int:
        return self.base.embedding_dim

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    def set_slot(self, slot: int, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        if bias is not None:
            raise AdapterError(f"{self.name}: an n-gram bag has no bias")
        super().set_slot(slot, weight, bias)

    def forward(self, ids: torch.Tensor, per_sample_weights: torch.Tensor | None = None) -> torch.Tensor:
        # ids, per_sample_weights: (B, L) -> (B, dim)
        out = self.base(ids, per_sample_weights=per_sample_weights)
        if not self.any_present:
            return out
        slots = _token_slots(ids, self.present, self.name)  # (B,)
        if slots is None:
            return out

        def slot_rows(slot: int, rows: torch.Tensor) -> torch.Tensor:
            weights = None if per_sample_weights is None else per_sample_weights.index_select(0, rows)
            return F.embedding_bag(ids.index_select(0, rows), self.weights[slot], per_sample_weights=weights,
                                   mode=self.base.mode)

        return self._replace_rows(out, slots, slot_rows)


class MultiLoraModel:
    """A base model whose targeted layers serve many loaded adapters at once, one per slot.

    Create with `enable_multi_lora`. The layers read the row slots that the model's forward
    publishes through ``engine.layers.current_adapter_ids``. ``load(slot, directory_or_weights)`` puts an adapter in a
    slot; then ``model(batch, adapter_ids=slots)`` (slots (B,) int64, -1 = base) runs one
    forward with each row's adapter. The model is changed in place and stays usable as before.
    """

    def __init__(
        self,
        model: nn.Module,
        max_adapters: int,
        target_modules: tuple[str, ...] = ATTENTION_PROJECTIONS,
        rank: int = 16,
    ) -> None:
        if max_adapters < 1:
            raise ValueError("max_adapters must be at least 1")
        self.model = model
        self.max_adapters = max_adapters
        self.lora_layers: dict[str, MultiLoraLinear] = {}
        for path, module in list(model.named_modules()):
            if isinstance(module, nn.Linear) and path.rpartition(".")[2] in target_modules:
                layer = MultiLoraLinear(module, max_adapters, rank)
                layer.name = path
                _replace_module(model, path, layer)
                self.lora_layers[path] = layer
        if not self.lora_layers:
            raise ValueError(f"the model has no linear layers named {', '.join(target_modules)}")
        self.saved_layers: dict[str, MultiSavedLinear | MultiSavedEmbeddingBag] = {}

    def load(self, slot: int, config: LoraConfig, tensors: Mapping[str, torch.Tensor]) -> None:
        """Put one adapter (from `load_adapter_weights`) into ``slot``, replacing what was there."""
        if not 0 <= slot < self.max_adapters:
            raise ValueError(f"slot {slot} is outside 0..{self.max_adapters - 1}")
        pairs, saved = _split_keys(tensors, config)
        _check_against_base(config, pairs, saved, self.model)
        unknown = sorted(set(pairs) - set(self.lora_layers))
        if unknown:
            raise AdapterError(f"adapter targets layers this server does not adapt: {', '.join(unknown)}")
        scaling = config.lora_alpha / (math.sqrt(config.r) if config.use_rslora else config.r)
        self.clear(slot)
        for path, (lora_a, lora_b) in pairs.items():
            self.lora_layers[path].set_slot(slot, lora_a, lora_b, scaling)
        for path, params in saved.items():
            self._saved_layer(path).set_slot(slot, params["weight"], params.get("bias"))

    def load_directory(self, slot: int, directory: str | Path) -> None:
        """Check and load a PEFT adapter directory into ``slot``."""
        config, tensors = load_adapter_weights(directory, self.model)
        self.load(slot, config, tensors)

    def clear(self, slot: int) -> None:
        """Empty ``slot``: its rows then get the base model."""
        for layer in self.lora_layers.values():
            layer.clear_slot(slot)
        for saved in self.saved_layers.values():
            saved.clear_slot(slot)

    def _saved_layer(self, path: str) -> MultiSavedLinear | MultiSavedEmbeddingBag:
        if path not in self.saved_layers:
            module = dict(self.model.named_modules()).get(path)
            if isinstance(module, nn.Linear):
                layer: MultiSavedLinear | MultiSavedEmbeddingBag = MultiSavedLinear(module, self.max_adapters)
            elif isinstance(module, nn.EmbeddingBag):
                layer = MultiSavedEmbeddingBag(module, self.max_adapters)
            else:
                raise AdapterError(f"modules_to_save {path} is neither a linear layer nor an n-gram bag; "
                                   "only those are served per row")
            layer.name = path
            _replace_module(self.model, path, layer)
            self.saved_layers[path] = layer
        return self.saved_layers[path]

    def __call__(self, batch: Any, adapter_ids: torch.Tensor | None = None) -> Any:
        return self.model(batch, adapter_ids=adapter_ids)


def enable_multi_lora(
    model: nn.Module,
    max_adapters: int,
    target_modules: tuple[str, ...] = ATTENTION_PROJECTIONS,
    rank: int = 16,
) -> MultiLoraModel:
    """Make ``model`` serve up to ``max_adapters`` adapters per forward (in place)."""
    return MultiLoraModel(model, max_adapters, target_modules, rank)


def _replace_module(model: nn.Module, path: str, replacement: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, replacement)
