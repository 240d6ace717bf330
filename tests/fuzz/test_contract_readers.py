"""Contract readers (PDF, DOCX, HTML, text) on hostile input: each file is read or refused with
UnreadableDocument and a message, nothing else escapes, and segment offsets stay inside the text."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solutions.contracts.extraction import UnreadableDocument, extract
from solutions.contracts.segmentation import segment
from tests.fuzz.mutations import hostile_files, sample_bytes

SAMPLES = sample_bytes("contracts", ".pdf", ".docx", ".txt")
FUZZ = settings(
    max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def read_or_refuse(name: str, data: bytes) -> None:
    try:
        document = extract(name, data)
    except UnreadableDocument as error:
        assert str(error)
        return
    for part in segment(document.text).sentences:
        assert 0 <= part.start <= part.end <= len(document.text)


@FUZZ
@given(data=hostile_files(SAMPLES), suffix=st.sampled_from([".pdf", ".docx", ".txt", ".html"]))
def test_readers_take_any_bytes(data: bytes, suffix: str) -> None:
    read_or_refuse(f"contract{suffix}", data)


@FUZZ
@given(markup=st.text(alphabet=st.sampled_from("<>/=\"' abcdefghi\n&;#x0123"), max_size=400))
def test_html_reader_takes_any_markup(markup: str) -> None:
    read_or_refuse("contract.html", markup.encode())
