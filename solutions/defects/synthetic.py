"""Synthetic part images with defect-like marks, for the shipped samples and the tests.

Steel-like brushed texture (noise smeared along one axis) with optional scratches, pits, a
crack, dark patches or blowholes drawn with Pillow. Nothing here comes from the datasets, so
the samples carry no data-licence question. `python -m solutions.defects.synthetic DIR`
writes the sample set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("clean", "scratches", "pits", "crack", "patches", "blowholes")
# Sample file name, kind, seed, format: a mix of every accepted format.
SAMPLES = (
    ("part-01-clean.png", "clean", 1, "PNG"),
    ("part-02-scratches.png", "scratches", 2, "PNG"),
    ("part-03-pits.jpg", "pits", 3, "JPEG"),
    ("part-04-crack.bmp", "crack", 4, "BMP"),
    ("part-05-patches.tiff", "patches", 5, "TIFF"),
    ("part-06-blowholes.png", "blowholes", 6, "PNG"),
    ("part-07-clean.jpg", "clean", 7, "JPEG"),
    ("part-08-scratches.png", "scratches", 8, "PNG"),
)


def brushed_texture(rng: np.random.Generator, size: int) -> Image.Image:
    noise = rng.normal(128, 22, (size, size)).astype(np.float32)
    smeared = Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8), mode="L")
    smeared = smeared.filter(ImageFilter.BoxBlur(1)).resize((size, size // 4)).resize((size, size))
    return smeared


def synthetic_part(kind: str, seed: int = 0, size: int = 200) -> Image.Image:
    """A grayscale part image of `size` pixels with a defect of `kind` (see KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    rng = np.random.default_rng(seed)
    image = brushed_texture(rng, size)
    draw = ImageDraw.Draw(image)

    def point() -> tuple[int, int]:
        return int(rng.integers(size // 8, size - size // 8)), int(rng.integers(size // 8, size - size // 8))

    if kind == "scratches":
        for _ in range(int(rng.integers(1, 4))):
            (x0, y0), (x1, y1) = point(), point()
            draw.line([x0, y0, x1, y1], fill=int(rng.integers(200, 255)), width=2)
    elif kind == "pits":
        for _ in range(int(rng.integers(10, 25))):
            x, y = point()
            r = int(rng.integers(1, 4))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=int(rng.integers(20, 60)))
    elif kind == "crack":
        x, y = point()
        path = [(x, y)]
        for _ in range(12):
            x, y = x + int(rng.integers(-6, 7)), y + int(rng.integers(4, 10))
            path.append((x, y))
        draw.line(path, fill=30, width=2)
    elif kind == "patches":
        for _ in range(int(rng.integers(1, 3))):
            x, y = point()
            r = int(rng.integers(size // 10, size // 5))
            draw.ellipse([x - r, y - r // 2, x + r, y + r // 2], fill=int(rng.integers(50, 90)))
        image = image.filter(ImageFilter.GaussianBlur(1.2))
    elif kind == "blowholes":
        for _ in range(int(rng.integers(1, 4))):
            x, y = point()
            r = int(rng.integers(3, 7))
            draw.ellipse([x - r, y - r, x + r, y + r], fill=15, outline=200)
    return image


def write_samples(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, kind, seed, fmt in SAMPLES:
        path = directory / name
        synthetic_part(kind, seed).save(path, fmt)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_samples(Path(sys.argv[1] if len(sys.argv) > 1 else "solutions/defects/samples")):
        print(written_path)
