"""Defect maps: from the model's per-cell probabilities to image-sized maps, boxes and overlays.

The model scores each cell of a grid over the image (a patch, or a dense head's 4-pixel cell;
the field is still called `patch_maps`); `upsample_map` stretches that grid over the image,
`boxes_from_map` thresholds it and returns the bounding box of every connected region, and
`render_overlay` draws heat map and boxes on the part for the browser and the API.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

Box = list[float]  # [x0, y0, x1, y1, score] in pixels of the map's image, x1/y1 exclusive
# Map probability from which pixels belong to a defect region, for a checkpoint whose validation
# record does not carry its own (train_base chooses one on NEU-DET's valid split with
# choose_box_threshold and saves it beside the weights).
BOX_THRESHOLD = 0.7
BOX_THRESHOLD_CHOICES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def upsample_map(patch_map: np.ndarray, width: int, height: int) -> np.ndarray:
    """(height, width) float32 map: the (h, w) patch probabilities resized bilinearly."""
    grid = Image.fromarray(np.asarray(patch_map, dtype=np.float32), mode="F")
    return np.asarray(grid.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def boxes_from_map(
    defect_map: np.ndarray, threshold: float = 0.5, min_area_fraction: float = 0.002
) -> list[Box]:
    """Boxes around the connected regions of `defect_map >= threshold`, strongest first.

    Regions smaller than `min_area_fraction` of the image are dropped as speckle; a box's score
    is the highest map value inside its region.
    """
    mask = np.asarray(defect_map) >= threshold
    labels, _count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    min_area = min_area_fraction * mask.size
    boxes = []
    for index, region in enumerate(ndimage.find_objects(labels), start=1):
        if region is None:
            continue
        inside = labels[region] == index
        if inside.sum() < min_area:
            continue
        rows, cols = region
        score = float(defect_map[region][inside].max())
        boxes.append([float(cols.start), float(rows.start), float(cols.stop), float(rows.stop), score])
    boxes.sort(key=lambda box: box[4], reverse=True)
    return boxes


def scale_boxes(boxes: list[Box], from_size: tuple[int, int], to_size: tuple[int, int]) -> list[Box]:
    """Boxes measured on an image of from_size (w, h) expressed on one of to_size."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return [[b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy, b[4]] for b in boxes]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x0, y0, x1, y1, ...] boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_quality(predicted: list[list[Box]], annotated: list[list[list[float]]]) -> tuple[float, float]:
    """(recall at IoU 0.5, mean best IoU) over every annotated box."""
    best = []
    for boxes, truths in zip(predicted, annotated, strict=True):
        for truth in truths:
            best.append(max((box_iou(box, truth) for box in boxes), default=0.0))
    best_array = np.asarray(best)
    return float((best_array >= 0.5).mean()), float(best_array.mean())


def map_boxes(patch_maps: np.ndarray, size: tuple[int, int], threshold: float) -> list[list[Box]]:
    """Per map, the boxes of its regions on an image of `size` (width, height)."""
    return [boxes_from_map(upsample_map(patch_map, *size), threshold) for patch_map in patch_maps]


def choose_box_threshold(
    patch_maps: np.ndarray, annotated: list[list[list[float]]], size: tuple[int, int]
) -> tuple[float, dict[str, list[float]]]:
    """The map threshold whose boxes best recover the annotated ones (recall at IoU 0.5, then
    mean best IoU), and the two measures at every threshold tried."""
    table = {str(t): list(box_quality(map_boxes(patch_maps, size, t), annotated)) for t in BOX_THRESHOLD_CHOICES}
    best = max(BOX_THRESHOLD_CHOICES, key=lambda t: tuple(table[str(t)]))
    return best, table


def map_to_png(patch_map: np.ndarray) -> bytes:
    """The cell map as an 8-bit grayscale PNG (a few kilobytes at most), 255 = probability 1."""
    levels = np.clip(np.rint(np.asarray(patch_map) * 255.0), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(levels, mode="L").save(buffer, "PNG")
    return buffer.getvalue()


def map_from_png(data: bytes) -> np.ndarray:
    """The cell map stored by map_to_png, as float32 probabilities."""
    with Image.open(io.BytesIO(data), formats=("PNG",)) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _heat_colours(defect_map: np.ndarray) -> np.ndarray:
    # Yellow through red as the probability rises; transparent where the map is near zero.
    p = np.clip(defect_map, 0.0, 1.0)
    rgba = np.zeros((*p.shape, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = np.rint(220 * (1.0 - p)).astype(np.uint8)
    rgba[..., 3] = np.rint(170 * np.clip((p - 0.15) / 0.85, 0.0, 1.0)).astype(np.uint8)
    return rgba


def render_overlay(part: Image.Image, patch_map: np.ndarray | None, boxes: list[Box]) -> Image.Image:
    """RGB picture of the part with the heat map blended over it and the boxes outlined.

    `boxes` are in the coordinates of `part` (use scale_boxes for another size).
    """
    canvas = part.convert("RGBA")
    if patch_map is not None:
        heat = upsample_map(patch_map, *canvas.size)
        canvas = Image.alpha_composite(canvas, Image.fromarray(_heat_colours(heat), mode="RGBA"))
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(max(canvas.size) / 128))
    for x0, y0, x1, y1, _score in boxes:
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=(0, 200, 255, 255), width=line)
    return canvas.convert("RGB")
