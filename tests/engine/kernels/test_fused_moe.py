"""The Triton fused MoE against the torch reference, over awkward shapes and both paths."""

import pytest
import torch

from engine.kernels import reference, triton_fused_moe
from tests.engine.kernels.inputs import moe_inputs

TOLERANCE = {torch.float32: {"atol": 1e-4, "rtol": 1e-4}, torch.bfloat16: {"atol": 3e-2, "rtol": 3e-2}}


def _check(device, tokens, width, hidden, experts, top_k, dtype):
    inputs = [t.to(device) for t in moe_inputs(tokens, width, hidden, experts, top_k, dtype)]
    out = triton_fused_moe.fused_moe(*inputs)
    assert out.shape == (tokens, width) and out.dtype == dtype
    torch.testing.assert_close(out, reference.fused_moe(*inputs), **TOLERANCE[dtype])


@pytest.mark.parametrize(
    ("tokens", "width", "hidden", "experts", "top_k", "dtype"),
    [
        (1, 32, 16, 4, 1, torch.float32),  # per-pair path
        (3, 511, 24, 16, 2, torch.bfloat16),  # width not a multiple of any tile
        (8, 40, 24, 64, 4, torch.float32),  # per-pair path at its 32-pair limit
        (33, 64, 32, 16, 3, torch.float32),  # aligned path, 16-row blocks
        (33, 48, 40, 64, 4, torch.bfloat16),  # aligned, many experts with one or two pairs
        (257, 32, 16, 4, 2, torch.float32),  # aligned, 64-row blocks
        (257, 24, 48, 16, 1, torch.bfloat16),
    ],
)
def test_fused_moe_kernel_matches_reference(device, tokens, width, hidden, experts, top_k, dtype):
    _check(device, tokens, width, hidden, experts, top_k, dtype)


@pytest.mark.parametrize("pair_path_max_pairs", [0, 10**6], ids=["aligned", "per-pair"])
def test_both_paths_match_reference_on_the_same_batch(device, monkeypatch, pair_path_max_pairs):
    monkeypatch.setattr(triton_fused_moe, "PAIR_PATH_MAX_PAIRS", pair_path_max_pairs)
    _check(device, 9, 33, 20, 4, 3, torch.float32)


def test_alignment_puts_every_pair_once_in_single_expert_blocks(device):
    topk_ids = torch.tensor([[2, 0], [2, 1], [2, 0], [3, 2], [0, 2]], device=device)
    block_m = 4
    sorted_pair_ids, block_expert_ids, num_padded = triton_fused_moe.align_pairs_to_blocks(
        topk_ids, num_experts=5, block_m=block_m
    )
    flat_ids = topk_ids.reshape(-1).cpu()
    num_pairs = flat_ids.numel()
    used = int(num_padded)
    # Experts 0 (3 pairs), 1 (1), 2 (5), 3 (1) need 1 + 1 + 2 + 1 blocks; expert 4 none.
    assert used == 5 * block_m
    slots = sorted_pair_ids[:used].cpu()
    real = slots[slots < num_pairs]
    assert sorted(real.tolist()) == list(range(num_pairs))
    assert (sorted_pair_ids[used:] == num_pairs).all()
    for block in range(used // block_m):
        pairs = slots[block * block_m : (block + 1) * block_m]
        pairs = pairs[pairs < num_pairs]
        assert pairs.numel() > 0
        assert (flat_ids[pairs] == int(block_expert_ids[block])).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: native Triton kernels")
@pytest.mark.parametrize("tokens", [1, 64, 2048])
def test_fused_moe_kernel_at_model_sizes_on_gpu(tokens):
    _check(torch.device("cuda"), tokens, 1024, 512, 64, 3, torch.bfloat16)
