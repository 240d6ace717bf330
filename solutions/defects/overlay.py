"""The overlay picture of a result: the stored part copy with its stored heat map and boxes."""

from __future__ import annotations

import io

from django.core.files.storage import default_storage
from PIL import Image

from solutions.defects.maps import map_from_png, render_overlay, scale_boxes
from solutions.defects.models import InspectionResult


def overlay_png(row: InspectionResult) -> bytes:
    """PNG bytes of the result's overlay, at the size of its stored display copy."""
    with default_storage.open(row.part_image.name, "rb") as stream, Image.open(stream, formats=("PNG",)) as part:
        part.load()
    with default_storage.open(row.heatmap.name, "rb") as stream:
        patch_map = map_from_png(stream.read())
    boxes = scale_boxes(row.boxes, (row.width, row.height), part.size)
    buffer = io.BytesIO()
    render_overlay(part, patch_map, boxes).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()
