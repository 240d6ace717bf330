"""Our MoE layer computes exactly what transformers' Mixtral sparse MoE block computes."""

from __future__ import annotations

import pytest
import torch

from engine.bench.moe_layer import (
    build_pair,
    hf_implementations_available,
    max_difference,
    set_hf_implementation,
)


@pytest.mark.parametrize("tokens", [1, 8, 33])
def test_moe_layer_matches_mixtral_with_the_same_weights(tokens):
    ours, theirs = build_pair(d_model=32, hidden=24, n_experts=16, top_k=3)
    x = torch.randn(tokens, 32, generator=torch.Generator().manual_seed(tokens))
    implementations = hf_implementations_available(theirs, x)
    assert "eager" in implementations
    for name in implementations:
        set_hf_implementation(theirs, name)
        assert max_difference(ours, theirs, x) < 1e-5
