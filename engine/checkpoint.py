"""Checkpoints as a folder: config.json + model.safetensors (+ tokenizer.json for text models).

Only JSON and safetensors are ever read back, so loading a checkpoint cannot run code
(no pickle, no torch.load).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.config import ModelConfig
from engine.ensemble import EnsembleTransformer, build_model
from engine.model import MoETransformer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"


def save_checkpoint(
    model: MoETransformer | EnsembleTransformer, directory: str | Path, extra_files: dict[str, str | bytes] | None = None
) -> Path:
    """Write the model's config and weights into `directory` (created if needed).

    extra_files maps a file name to its text or bytes, e.g. {"tokenizer.json": tok.to_json()}
    or a model card; names must be plain file names inside the folder.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.save(directory / CONFIG_FILE)
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    for name, content in (extra_files or {}).items():
        if Path(name).name != name or name in (CONFIG_FILE, WEIGHTS_FILE):
            raise ValueError(f"extra file name {name!r} must be a plain file name other than the checkpoint's own")
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return directory


def load_checkpoint(
    directory: str | Path, map_location: str | torch.device = "cpu"
) -> MoETransformer | EnsembleTransformer:
    """Rebuild the model from `directory`, in eval mode, on `map_location`."""
    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a checkpoint: {name} is missing")
    model = build_model(ModelConfig.load(directory / CONFIG_FILE))
    state = load_file(str(directory / WEIGHTS_FILE), device=str(map_location))
    model.load_state_dict(state, strict=True)
    return model.to(map_location).eval()
