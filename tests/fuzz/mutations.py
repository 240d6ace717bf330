"""Hypothesis strategies for hostile files: arbitrary bytes, and real sample files mutated
(bytes flipped, cut short, spliced with garbage) so inputs get past the first format check."""

from pathlib import Path

from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[2]


def sample_bytes(solution: str, *suffixes: str) -> list[bytes]:
    folder = REPO_ROOT / "solutions" / solution / "samples"
    return [
        path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in suffixes and path.is_file()
    ]


@st.composite
def mutated(draw: st.DrawFn, originals: list[bytes]) -> bytes:
    """One of `originals` with a few random edits."""
    data = bytearray(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        edit = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if edit == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif edit == "cut":
            del data[position:]
        elif edit == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif data:
            del data[position : position + draw(st.integers(1, 64))]
    return bytes(data)


def hostile_files(originals: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=2048), mutated(originals))
