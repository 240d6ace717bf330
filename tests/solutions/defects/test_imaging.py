"""Hostile uploads become error rows with readable reasons; the good images of a batch survive."""

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from solutions.defects.imaging import (
    DEFAULT_LIMITS,
    IntakeLimits,
    decode_image,
    read_upload,
    to_model_array,
)


def png_bytes(size=(40, 30), mode="L", fmt="PNG") -> bytes:
    rng = np.random.default_rng(0)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode=mode).save(buffer, fmt)
    return buffer.getvalue()


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def read(data: bytes, name: str, limits: IntakeLimits | None = None):
    return read_upload(io.BytesIO(data), name, limits or DEFAULT_LIMITS)


@pytest.mark.parametrize("fmt,suffix", [("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("TIFF", "tif")])
def test_each_supported_format_decodes(fmt, suffix):
    [item] = read(png_bytes(fmt=fmt), f"part.{suffix}")
    assert item.ok and item.image.size == (40, 30)


def test_truncated_png_is_an_error_row():
    data = png_bytes(size=(120, 120))
    [item] = read(data[: len(data) // 2], "cut.png")
    assert not item.ok
    assert "truncated" in item.error


def test_text_named_png_is_not_an_image():
    [item] = read(b"hello, this is a shopping list\n", "list.png")
    assert item.error == "not a PNG, JPEG, BMP or TIFF image"


def test_decompression_bomb_is_refused_before_decoding():
    [item] = read(png_with_header(60_000, 60_000), "bomb.png")
    assert "decompression bomb" in item.error


def test_huge_dimensions_are_refused():
    [item] = read(png_with_header(5000, 5000), "huge.png")
    assert "5000x5000" in item.error and "limit" in item.error
    [strip] = read(png_with_header(20_000, 2), "strip.png")
    assert "per side" in strip.error


def test_zip_keeps_good_members_and_refuses_a_ratio_bomb():
    archive = zip_bytes({"good.png": png_bytes(), "zeros.bmp": b"\x00" * (3 * 1024 * 1024)})
    good, bomb = read(archive, "batch.zip")
    assert good.filename == "batch.zip/good.png" and good.ok
    assert "ZIP bomb" in bomb.error and "compression ratio" in bomb.error


def test_zip_whose_total_size_is_too_large_is_one_error_row():
    limits = IntakeLimits(max_total_bytes=1024 * 1024)
    archive = zip_bytes({f"{i}.png": b"\x00" * 400_000 for i in range(3)})
    [item] = read(archive, "big.zip", limits)
    assert item.filename == "big.zip" and "ZIP bomb" in item.error


def test_zip_with_too_many_members_is_refused():
    archive = zip_bytes({f"{i}.png": b"x" for i in range(6)})
    [item] = read(archive, "many.zip", IntakeLimits(max_members=5))
    assert "holds 6 files; the limit is 5" in item.error


def test_zip_paths_escaping_the_archive_are_refused():
    archive = zip_bytes({
        "../evil.png": png_bytes(), "/etc/abs.png": png_bytes(),
        "ok/inner.png": png_bytes(), "nested.zip": b"PK",
    })
    by_name = {item.filename: item for item in read(archive, "a.zip")}
    assert by_name["a.zip/../evil.png"].error == "refused: path escapes the archive"
    assert by_name["a.zip//etc/abs.png"].error == "refused: absolute path"
    assert by_name["a.zip/nested.zip"].error == "archives inside archives are not inspected"
    assert by_name["a.zip/ok/inner.png"].ok


def test_corrupt_zip_is_an_error_row():
    [item] = read(b"PK\x03\x04 this is not really an archive", "broken.zip")
    assert "not a readable ZIP archive" in item.error


def test_oversized_file_is_refused_without_reading_it_all():
    [item] = read(png_bytes(size=(300, 300)), "big.png", IntakeLimits(max_file_bytes=1000, max_total_bytes=1000))
    assert "larger than" in item.error


def test_model_array_is_grayscale_in_unit_range_at_model_size():
    rgba = Image.new("RGBA", (50, 20), (255, 0, 0, 128))
    array = to_model_array(rgba, 32)
    assert array.shape == (1, 32, 32) and array.dtype == np.float32
    assert 0.0 <= array.min() <= array.max() <= 1.0


def test_sixteen_bit_tiff_is_scaled_to_eight_bits():
    image = Image.fromarray(np.full((8, 8), 4000, dtype=np.uint16))
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    decoded = decode_image(buffer.getvalue())
    assert to_model_array(decoded, 8).max() == pytest.approx(1.0)
