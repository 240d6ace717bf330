"""Training data helpers: per-patch targets from masks, augmentation, and the LBP baseline's
features and box scoring used by the evaluation."""

import numpy as np
import pytest
import torch

from solutions.defects.datasets import IGNORE, augment, patch_targets
from solutions.defects.evaluation import lbp_histogram
from solutions.defects.maps import box_quality
from solutions.defects.synthetic import synthetic_part


def test_patch_targets_mark_defect_clean_and_unsure_patches():
    masks = torch.zeros(2, 1, 16, 16)
    masks[0, 0, :8, :8] = 1.0  # patch 0 fully defective
    masks[0, 0, 8, 8] = 1.0  # one pixel of patch 3: 1/64 of it, unsure
    masks[1] = float("nan")  # unknown mask
    targets = patch_targets(masks, 8)
    assert targets[0].tolist() == [1, 0, 0, IGNORE]
    assert (targets[1] == IGNORE).all()


def test_augment_keeps_range_shape_and_moves_masks_with_pixels():
    generator = torch.Generator().manual_seed(0)
    pixels = torch.zeros(8, 1, 32, 32)
    pixels[:, :, 4:12, 4:12] = 1.0
    masks = pixels.clone()
    masks[7] = float("nan")
    out_pixels, out_masks = augment(pixels, masks, generator, robust=torch.ones(8, dtype=torch.bool))
    assert out_pixels.shape == pixels.shape and 0.0 <= out_pixels.min() <= out_pixels.max() <= 1.0
    assert torch.isnan(out_masks[7]).all() and not torch.isnan(out_masks[:7]).any()
    # Where the mask landed, the bright square landed too (geometry is shared).
    for image, mask in zip(out_pixels[:7], out_masks[:7], strict=True):
        inside, outside = image[mask > 0.9], image[mask < 0.1]
        assert inside.mean() > outside.mean()


def test_lbp_histograms_are_normalised_and_tell_textures_apart():
    scratched = lbp_histogram(np.asarray(synthetic_part("scratches", 1)))
    pitted = lbp_histogram(np.asarray(synthetic_part("pits", 1)))
    assert scratched.shape == (3 * 59,)
    assert scratched.reshape(3, 59).sum(axis=1) == pytest.approx([1, 1, 1])
    assert np.abs(scratched - pitted).sum() > 0.01


def test_box_quality_counts_each_annotated_box():
    predicted = [[[0, 0, 10, 10, 0.9]], []]
    annotated = [[[0, 0, 10, 10], [50, 50, 60, 60]], [[0, 0, 5, 5]]]
    recall, mean_iou = box_quality(predicted, annotated)
    assert recall == pytest.approx(1 / 3) and mean_iou == pytest.approx(1 / 3)


def test_rows_that_are_not_robust_are_only_flipped_pixel_for_pixel():
    generator = torch.Generator().manual_seed(3)
    pixels = torch.rand(16, 1, 12, 12)
    masks = (pixels > 0.8).float()
    robust = torch.arange(16) % 2 == 0
    out_pixels, out_masks = augment(pixels, masks, generator, robust=robust)
    for row in range(1, 16, 2):
        flips = [pixels[row], pixels[row].flip(-1), pixels[row].flip(-2), pixels[row].flip(-1).flip(-2)]
        match = [i for i, f in enumerate(flips) if torch.equal(out_pixels[row], f)]
        assert match, f"row {row} is not a flip of its input"
        assert torch.equal(out_masks[row], [masks[row], masks[row].flip(-1), masks[row].flip(-2),
                                            masks[row].flip(-1).flip(-2)][match[0]])
    changed = [not torch.equal(out_pixels[row], pixels[row]) for row in range(1, 16, 2)]
    assert any(changed)
    assert all(not torch.equal(out_pixels[row], pixels[row]) for row in range(0, 16, 2))  # camera changes
