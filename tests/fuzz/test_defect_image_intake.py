"""Part image intake (PNG/JPEG/BMP/TIFF and ZIP archives) on hostile input: nothing raises;
every file found is a decoded image or a row with a readable error."""

import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solutions.defects.imaging import IMAGE_SUFFIXES, IntakeLimits, read_upload
from tests.fuzz.mutations import hostile_files, mutated, sample_bytes

SAMPLES = sample_bytes("defects", *IMAGE_SUFFIXES)
# Small limits so the fuzzer reaches the size, pixel and ratio checks with small inputs.
SMALL_LIMITS = IntakeLimits(
    max_file_bytes=256 * 1024,
    max_pixels=600 * 600,
    max_side=1024,
    max_members=8,
    max_total_bytes=1024 * 1024,
    ratio_floor_bytes=4096,
)
FUZZ = settings(
    max_examples=50, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
MEMBER_NAMES = st.one_of(
    st.sampled_from(
        ["part.png", "../escape.png", "/abs.png", "a/../../b.jpg", "nested.zip", "C:\\x.bmp",
         "__MACOSX/._part.png", "dir/", "x.tiff", "name\x00.png"]
    ),
    st.text(min_size=1, max_size=20),
)  # fmt: skip


def inspect(data: bytes, filename: str, limits: IntakeLimits = SMALL_LIMITS) -> list:
    items = list(read_upload(io.BytesIO(data), filename, limits))
    assert items, "an upload always gives at least one row"
    for item in items:
        assert item.ok != bool(item.error), item
        if item.ok:
            width, height = item.image.size
            assert 0 < width * height <= limits.max_pixels
    return items


@FUZZ
@given(data=hostile_files(SAMPLES), suffix=st.sampled_from([*IMAGE_SUFFIXES, ".zip"]))
def test_any_bytes_as_an_image_or_archive(data: bytes, suffix: str) -> None:
    inspect(data, f"upload{suffix}")


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        names = draw(st.lists(MEMBER_NAMES, max_size=10, unique=True))
        for name in names:
            body = draw(
                st.one_of(mutated(SAMPLES), st.sampled_from(SAMPLES), st.binary(max_size=64))
            )
            method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            try:
                archive.writestr(zipfile.ZipInfo(name), body, compress_type=method)
            except (ValueError, IndexError):
                continue  # a name zipfile itself cannot write (empty after a NUL)
    data = buffer.getvalue()
    if draw(st.booleans()):
        data = draw(mutated([data]))
    return data


@FUZZ
@given(data=archives())
def test_any_zip_archive(data: bytes) -> None:
    inspect(data, "batch.zip")


def test_a_zip_bomb_and_an_escaping_path_are_refused_rows() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.png", b"\0" * (200 * 1024))
        archive.writestr("../../etc/passwd.png", SAMPLES[0])
        archive.writestr("good.png", SAMPLES[0])
    items = inspect(buffer.getvalue(), "batch.zip", IntakeLimits(ratio_floor_bytes=4096))

    by_name = {item.filename.split("/", 1)[1]: item for item in items}
    assert "ZIP bomb" in by_name["bomb.png"].error
    assert "refused" in by_name["../../etc/passwd.png"].error
    assert by_name["good.png"].ok
