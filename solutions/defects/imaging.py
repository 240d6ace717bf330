"""Safe intake of part images: single PNG/JPEG/BMP/TIFF files and ZIP archives of them.

Everything a user or a line system sends is hostile until proven otherwise. `read_upload` turns
one uploaded file into `IntakeItem`s, one per image found and decoded only when reached, each either a decoded
image or a readable error: a corrupt or truncated file, a file that is not an image whatever
its name says, a decompression bomb, oversized dimensions, a ZIP bomb or a path escaping the
archive. One bad file never stops the rest of the batch.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
ZIP_SUFFIXES = (".zip",)
# Content types a line system may post raw bytes with, and the file name each is stored under.
MEDIA_TYPES = {
    "image/png": "upload.png", "image/jpeg": "upload.jpg", "image/bmp": "upload.bmp",
    "image/tiff": "upload.tiff", "application/zip": "upload.zip",
}


@dataclass(frozen=True)
class IntakeLimits:
    """Bounds on what one upload may cost to decode; defaults suit line-camera part images."""

    max_file_bytes: int = 20 * 1024 * 1024  # one image file, or one archive member
    max_pixels: int = 16_000_000  # width * height of one image (4000 x 4000)
    max_side: int = 8192  # longest side, so a 1 x 16M strip is refused too
    max_members: int = 1000  # files in one archive
    max_total_bytes: int = 200 * 1024 * 1024  # uncompressed bytes of one archive
    max_ratio: float = 100.0  # uncompressed / compressed size of a large member
    ratio_floor_bytes: int = 1024 * 1024  # members smaller than this may compress as they like


DEFAULT_LIMITS = IntakeLimits()


@dataclass
class IntakeItem:
    """One image of an upload: decoded (`image`) or refused (`error`), never both."""

    filename: str
    image: Image.Image | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.image is not None


class IntakeError(ValueError):
    """A file cannot be inspected; the message says why in words a user can act on."""


def _read_bounded(stream: BinaryIO, limit: int, what: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise IntakeError(f"{what} is larger than the {limit // (1024 * 1024)} MiB limit")
    return data


def decode_image(data: bytes, limits: IntakeLimits = DEFAULT_LIMITS) -> Image.Image:
    """Decode PNG/JPEG/BMP/TIFF bytes into a fully loaded image, or raise IntakeError.

    The header is checked before any pixel is decoded, so a bomb costs only its header.
    """
    if len(data) > limits.max_file_bytes:
        raise IntakeError(f"file is larger than the {limits.max_file_bytes // (1024 * 1024)} MiB limit")
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; for us a warning is a refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise IntakeError(f"refused as a decompression bomb: {exc}") from None
        except Image.UnidentifiedImageError:
            raise IntakeError("not a PNG, JPEG, BMP or TIFF image") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise IntakeError(f"unreadable image header: {exc}") from None
        width, height = image.size
        if width < 1 or height < 1:
            raise IntakeError(f"image has no pixels ({width}x{height})")
        if max(width, height) > limits.max_side or width * height > limits.max_pixels:
            raise IntakeError(
                f"image is {width}x{height} pixels; the limit is {limits.max_pixels:,} pixels "
                f"and {limits.max_side} per side"
            )
        try:
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise IntakeError(f"refused as a decompression bomb: {exc}") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            # Truncated or corrupt pixel data ("image file is truncated", broken deflate streams).
            raise IntakeError(f"corrupt or truncated image data: {exc}") from None
    return image


def _unsafe_member_name(name: str) -> str | None:
    """Why an archive member's path is refused, or None when it stays inside the archive."""
    if not name:
        return "the member has no name"
    if "\\" in name:
        return "path uses backslashes"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "path escapes the archive"
    return None


def _is_metadata_member(info: zipfile.ZipInfo) -> bool:
    # Folders and the resource forks macOS adds to every archive are not part images.
    name = info.filename
    base = name.rsplit("/", 1)[-1]
    # endswith, not ZipInfo.is_dir(): that raises IndexError on a member with an empty name.
    return name.endswith("/") or name.startswith("__MACOSX/") or base.startswith("._") or base == ".DS_Store"


def read_zip(data: bytes, archive_name: str, limits: IntakeLimits = DEFAULT_LIMITS) -> Iterator[IntakeItem]:
    """Every image member of a ZIP archive as an IntakeItem, refusing bombs and escaping paths.

    Archive-wide problems (not a ZIP, too many members, too large in total) give one error row
    named after the archive; a bad member gives an error row of its own.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield IntakeItem(archive_name, error=f"not a readable ZIP archive: {exc}")
        return
    with archive:
        members = [info for info in archive.infolist() if not _is_metadata_member(info)]
        if not members:
            yield IntakeItem(archive_name, error="archive holds no files to inspect")
            return
        if len(members) > limits.max_members:
            yield IntakeItem(
                archive_name,
                error=f"archive holds {len(members)} files; the limit is {limits.max_members}",
            )
            return
        declared_total = sum(info.file_size for info in members)
        if declared_total > limits.max_total_bytes:
            yield IntakeItem(
                archive_name,
                error=f"archive unpacks to {declared_total:,} bytes; the limit is "
                f"{limits.max_total_bytes:,} (refused as a ZIP bomb)",
            )
            return
        for info in members:
            label = f"{archive_name}/{info.filename}"
            try:
                yield IntakeItem(label, image=_read_member(archive, info, limits))
            except IntakeError as exc:
                yield IntakeItem(label, error=str(exc))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: IntakeLimits) -> Image.Image:
    reason = _unsafe_member_name(info.filename)
    if reason:
        raise IntakeError(f"refused: {reason}")
    if info.flag_bits & 0x1:
        raise IntakeError("encrypted archive members are not supported")
    if info.filename.lower().endswith(ZIP_SUFFIXES):
        raise IntakeError("archives inside archives are not inspected")
    if info.file_size > limits.max_file_bytes:
        raise IntakeError(f"member is larger than the {limits.max_file_bytes // (1024 * 1024)} MiB limit")
    if info.file_size > limits.ratio_floor_bytes:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise IntakeError(
                f"compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:.0f}:1 (refused as a ZIP bomb)"
            )
    try:
        with archive.open(info) as stream:
            # Bounded read: the header's sizes may lie, so never read past the per-file limit.
            payload = _read_bounded(stream, limits.max_file_bytes, "member")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise IntakeError(f"corrupt archive member: {exc}") from None
    return decode_image(payload, limits)


def read_upload(
    stream: BinaryIO, filename: str, limits: IntakeLimits = DEFAULT_LIMITS
) -> Iterator[IntakeItem]:
    """The images of one uploaded file (an image, or a ZIP of images), bad ones as error rows."""
    try:
        data = _read_bounded(stream, max(limits.max_total_bytes, limits.max_file_bytes), "upload")
    except IntakeError as exc:
        yield IntakeItem(filename, error=str(exc))
        return
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(ZIP_SUFFIXES):
        yield from read_zip(data, filename, limits)
        return
    try:
        yield IntakeItem(filename, image=decode_image(data, limits))
    except IntakeError as exc:
        yield IntakeItem(filename, error=str(exc))


def to_grayscale(image: Image.Image) -> Image.Image:
    """8-bit grayscale of any decoded mode (16-bit TIFF, palette, RGBA), EXIF rotation applied."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = float(array.max()) or 1.0
        return Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / ((high - low) or 1.0) * 255.0
        return Image.fromarray(scaled.astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        backdrop = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(backdrop, image)
    return image.convert("L")


def to_model_array(image: Image.Image, size: int) -> np.ndarray:
    """(1, size, size) float32 pixels in [0, 1]: the grayscale image resized for the model."""
    gray = to_grayscale(image)
    if gray.size != (size, size):
        gray = gray.resize((size, size), Image.Resampling.BILINEAR)
    return (np.asarray(gray, dtype=np.float32) / 255.0)[None, :, :]


def display_copy(image: Image.Image, max_side: int = 256) -> Image.Image:
    """A small grayscale copy of the part for overlays and thumbnails."""
    gray = to_grayscale(image)
    gray.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return gray
