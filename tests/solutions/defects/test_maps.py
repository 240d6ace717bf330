"""Boxes come from the upsampled defect map; maps survive their PNG storage; overlays draw."""

import numpy as np
import pytest
from PIL import Image

from solutions.defects.maps import (
    box_iou,
    boxes_from_map,
    choose_box_threshold,
    map_from_png,
    map_to_png,
    render_overlay,
    scale_boxes,
    upsample_map,
)


def test_each_connected_region_gets_its_box_strongest_first():
    defect_map = np.zeros((100, 120), dtype=np.float32)
    defect_map[10:30, 20:50] = 0.7
    defect_map[60:90, 80:110] = 0.95
    defect_map[0, 0] = 0.99  # one-pixel speckle is not a defect region
    boxes = boxes_from_map(defect_map, threshold=0.5)
    assert [b[:4] for b in boxes] == [[80, 60, 110, 90], [20, 10, 50, 30]]
    assert boxes[0][4] == pytest.approx(0.95)


def test_box_from_an_upsampled_patch_map_covers_the_defect_patch():
    patch_map = np.zeros((8, 8), dtype=np.float32)
    patch_map[2:4, 5] = 1.0  # patches rows 2-3, column 5 of an 8x8 grid over 128 px
    boxes = boxes_from_map(upsample_map(patch_map, 128, 128), threshold=0.5)
    assert len(boxes) == 1
    assert box_iou(boxes[0], [80, 32, 96, 64]) > 0.6


def test_no_region_above_threshold_gives_no_boxes():
    assert boxes_from_map(np.full((16, 16), 0.2, dtype=np.float32), threshold=0.5) == []


def test_iou_and_scaling():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
    assert scale_boxes([[10, 10, 20, 20, 0.9]], (100, 100), (200, 50)) == [[20, 5, 40, 10, 0.9]]


def test_map_png_round_trip_within_one_level():
    patch_map = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    assert np.abs(map_from_png(map_to_png(patch_map)) - patch_map).max() <= 0.5 / 255 + 1e-6


def test_overlay_paints_heat_where_the_map_is_high_and_outlines_boxes():
    part = Image.new("L", (64, 64), 128)
    patch_map = np.zeros((4, 4), dtype=np.float32)
    patch_map[0, 0] = 1.0
    overlay = render_overlay(part, patch_map, [[40, 40, 60, 60, 0.9]])
    assert overlay.mode == "RGB" and overlay.size == (64, 64)
    red, green, _blue = overlay.getpixel((4, 4))
    assert red > 200 and green < 128  # heat over the defect patch
    assert overlay.getpixel((50, 50)) == (128, 128, 128)  # inside the box, no heat
    assert overlay.getpixel((40, 50))[2] > 200  # box outline


def test_the_box_threshold_is_the_one_whose_boxes_match_the_annotations_best():
    # A map that is 0.9 inside the defect and 0.55 on a halo around it: a low threshold draws
    # the halo's box (too big), a high one the defect's own.
    patch_map = np.zeros((20, 20), dtype=np.float32)
    patch_map[4:16, 4:16] = 0.55
    patch_map[8:12, 8:12] = 0.9
    threshold, table = choose_box_threshold(patch_map[None], [[[80, 80, 120, 120]]], (200, 200))
    assert threshold >= 0.6
    assert table[str(threshold)][0] == 1.0 and table["0.5"][0] == 0.0
