"""Encoders: missing values, padding and unreachable atoms are handled explicitly."""

from __future__ import annotations

import pytest
import torch

from engine.config import ModelConfig
from engine.encoders import ConvBlock, GraphEncoder, PatchEncoder, TabularEncoder, TextEncoder
from engine.model import MoETransformer
from tests.engine.helpers import tiny_batch, tiny_config


def test_tabular_missing_numeric_uses_the_learned_missing_embedding():
    encoder = TabularEncoder(tiny_config("tabular"))
    numeric = torch.tensor([[float("nan"), 1.0]])
    tokens = encoder({"numeric": numeric, "categorical": torch.tensor([[0, 4]])}).tokens  # (1, 1 + 4, D)
    torch.testing.assert_close(tokens[0, 1], encoder.numeric_missing[0])
    torch.testing.assert_close(tokens[0, 2], encoder.numeric_weight[1] + encoder.numeric_bias[1])
    assert torch.isfinite(tokens).all()


def test_tabular_features_have_separate_category_tables():
    encoder = TabularEncoder(tiny_config("tabular"))
    tokens = encoder({"numeric": torch.zeros(1, 2), "categorical": torch.tensor([[1, 1]])}).tokens
    assert not torch.equal(tokens[0, 3], tokens[0, 4])  # category 1 of feature 0 != of feature 1


def test_tabular_rejects_out_of_range_categories():
    encoder = TabularEncoder(tiny_config("tabular"))
    with pytest.raises(ValueError, match="0 for missing"):
        encoder({"numeric": torch.zeros(1, 2), "categorical": torch.tensor([[4, 1]])})  # feature 0 has 3


def test_patch_encoder_has_one_token_per_patch_and_checks_size():
    encoder = PatchEncoder(tiny_config("image"))
    assert encoder({"pixels": torch.rand(2, 3, 16, 16)}).tokens.shape == (2, 1 + 16, 32)
    with pytest.raises(ValueError, match="patch grid"):
        encoder({"pixels": torch.rand(2, 3, 20, 20)})


def test_patch_encoder_stem_keeps_one_token_per_patch():
    config = tiny_config("image", stem_channels=[8, 16])
    encoder = PatchEncoder(config)
    assert encoder({"pixels": torch.rand(2, 3, 16, 16)}).tokens.shape == (2, 1 + 16, 32)
    assert encoder.patchify.kernel_size == (1, 1)  # 4-pixel patches = the stem's stride of 4


def test_stem_wider_than_the_patch_is_refused():
    with pytest.raises(ValueError, match="stem's stride"):
        tiny_config("image", stem_channels=[8, 16, 32])  # stride 8 > patch_size 4


def test_configs_saved_before_the_stem_existed_load_without_one():
    saved = tiny_config("image").to_dict()
    del saved["stem_channels"]  # a config.json written before the field
    model = MoETransformer(ModelConfig.from_dict(saved))
    assert not any(name.startswith("encoder.stem") for name in model.state_dict())


def test_graph_bias_distinguishes_unreachable_and_cls():
    encoder = GraphEncoder(tiny_config("graph"))
    torch.nn.init.normal_(encoder.distance_bias.weight)
    batch = tiny_batch("graph")
    bias = encoder(batch).attn_bias  # (B, H, 1 + N, 1 + N)
    table = encoder.distance_bias.weight  # rows: 0..4 distances, 5 unreachable, 6 CLS
    assert bias.shape == (3, 4, 7, 7)
    torch.testing.assert_close(bias[0, :, 1, 6], table[5])  # distances[0, 0, 5] is inf
    torch.testing.assert_close(bias[0, :, 0, 3], table[6])
    far = batch["distances"][1, 1, 2].clamp(max=4).long()
    torch.testing.assert_close(bias[1, :, 2, 3], table[far])


def test_padded_atoms_do_not_change_the_molecule():
    torch.manual_seed(0)
    model = MoETransformer(tiny_config("graph")).eval()
    batch = tiny_batch("graph", batch_size=1)
    batch["atom_mask"][0, 4:] = False
    batch["atom_features"][0, 4:] = 0
    reference = model(batch).pooled
    batch["atom_features"][0, 4:] = 2  # whatever sits in padding is ignored
    batch["distances"][0, 4:] = 1.0
    torch.testing.assert_close(model(batch).pooled, reference)


def test_graph_encoder_refuses_molecules_beyond_max_atoms():
    encoder = GraphEncoder(tiny_config("graph", max_atoms=5))
    with pytest.raises(ValueError, match="max_atoms 5"):
        encoder(tiny_batch("graph"))  # six atoms


def test_text_encoder_names_the_vocabulary_mismatch():
    encoder = TextEncoder(tiny_config("text"))
    with pytest.raises(ValueError, match=r"0\.\.49"):
        encoder({"input_ids": torch.tensor([[1, 50]])})
    with pytest.raises(ValueError, match="max_len 16"):
        encoder({"input_ids": torch.ones(1, 17, dtype=torch.long)})


def test_ngram_bag_ignores_padding_and_sees_word_order():
    config = tiny_config("text")
    config.ngram_buckets = 97
    encoder = TextEncoder(config)
    sentence = torch.tensor([[5, 6, 7, 0, 0]])
    mask = sentence != 0
    alone = encoder({"input_ids": sentence[:, :3], "attention_mask": mask[:, :3]}).tokens[:, 0]
    padded = encoder({"input_ids": sentence, "attention_mask": mask}).tokens[:, 0]
    torch.testing.assert_close(alone, padded)
    # Same tokens in another order: the unigrams agree, the bigrams differ, so does CLS.
    reordered = encoder({"input_ids": torch.tensor([[7, 6, 5]])}).tokens[:, 0]
    assert not torch.allclose(alone, reordered)
    without_bag = TextEncoder(tiny_config("text"))
    without_bag.load_state_dict({k: v for k, v in encoder.state_dict().items() if "ngram" not in k})
    swapped = without_bag({"input_ids": torch.tensor([[7, 6, 5]])}).tokens[:, 0]
    torch.testing.assert_close(swapped, without_bag({"input_ids": sentence[:, :3]}).tokens[:, 0])


def test_stem_blocks_start_as_the_identity_and_keep_each_stage_output():
    encoder = PatchEncoder(tiny_config("image", stem_channels=[8, 16], stem_blocks=2))
    pixels = torch.rand(2, 3, 16, 16)
    deep_out = encoder({"pixels": pixels})
    assert [tuple(f.shape) for f in deep_out.features] == [(2, 8, 8, 8), (2, 16, 4, 4)]
    blocks = [i for i, layer in enumerate(encoder.stem) if isinstance(layer, ConvBlock)]
    assert len(blocks) == 4
    for index in blocks:
        encoder.stem[index] = torch.nn.Identity()
    torch.testing.assert_close(encoder({"pixels": pixels}).tokens, deep_out.tokens)  # zero-initialised residuals


def test_image_pixel_norm_ignores_exposure_and_nearly_ignores_gain():
    normed, fixed = PatchEncoder(tiny_config("image", pixel_norm="image")), PatchEncoder(tiny_config("image"))
    fixed.load_state_dict(normed.state_dict())
    pixels = torch.rand(2, 3, 16, 16) * 0.5
    brighter, stronger = {"pixels": pixels + 0.2}, {"pixels": pixels * 1.6}
    torch.testing.assert_close(normed(brighter).tokens, normed({"pixels": pixels}).tokens, atol=1e-5, rtol=1e-4)

    @torch.no_grad()
    def change(encoder: PatchEncoder, batch: dict) -> float:
        return float((encoder(batch).tokens - encoder({"pixels": pixels}).tokens).abs().mean())

    assert change(normed, stronger) < 0.2 * change(fixed, stronger)  # 0.02 is added to the std
    assert change(fixed, brighter) > 0


def test_unknown_pixel_norm_is_refused():
    with pytest.raises(ValueError, match="pixel_norm"):
        tiny_config("image", pixel_norm="per_batch")
