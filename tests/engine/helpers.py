"""Tiny configs and batches for every encoder kind, shared by the engine tests."""

from __future__ import annotations

import torch

from engine.config import HeadSpec, ModelConfig

ALL_HEADS = [
    HeadSpec("label", "multiclass", 3),
    HeadSpec("tags", "multilabel", 2),
    HeadSpec("value", "regression", 1),
    HeadSpec("per_token", "token", 2),
]


def tiny_config(encoder: str = "text", **overrides) -> ModelConfig:
    settings = dict(
        d_model=32, n_layers=2, n_heads=4, n_experts=4, top_k=2, n_shared_experts=1,
        expert_hidden=16, encoder=encoder, vocab_size=50, max_len=16, n_numeric=2,
        categorical_cardinalities=[3, 4], image_size=16, patch_size=4, channels=3,
        atom_feature_cardinalities=[5, 3], max_atoms=8, max_distance=4, heads=ALL_HEADS,
    )
    settings.update(overrides)
    return ModelConfig(**settings)


def tiny_batch(encoder: str, batch_size: int = 3, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    g = generator or torch.Generator().manual_seed(0)
    if encoder == "text":
        mask = torch.ones(batch_size, 7, dtype=torch.bool)
        mask[0, 4:] = False
        return {"input_ids": torch.randint(1, 50, (batch_size, 7), generator=g), "attention_mask": mask}
    if encoder == "tabular":
        numeric = torch.randn(batch_size, 2, generator=g)
        numeric[0, 1] = float("nan")
        categorical = torch.randint(0, 4, (batch_size, 2), generator=g).clamp(max=torch.tensor([3, 4]))
        return {"numeric": numeric, "categorical": categorical}
    if encoder == "image":
        return {"pixels": torch.rand(batch_size, 3, 16, 16, generator=g)}
    atoms = torch.randint(1, 4, (batch_size, 6, 2), generator=g)
    mask = torch.ones(batch_size, 6, dtype=torch.bool)
    mask[0, 4:] = False
    atoms[0, 4:] = 0
    distances = torch.randint(0, 7, (batch_size, 6, 6), generator=g).float()
    distances[:, 0, 5] = float("inf")
    return {"atom_features": atoms, "atom_mask": mask, "distances": distances}


def token_count(encoder: str) -> int:
    return {"text": 7, "tabular": 4, "image": 16, "graph": 6}[encoder]
