"""Segmentation: numbering and headings recognised, sentences split where sentences end."""

from solutions.contracts.segmentation import leading_marker, segment

CONTRACT = """MASTER AGREEMENT

ARTICLE IV
TERM AND TERMINATION

4.1 Term. This Agreement is made by Acme Inc. and U.S. Widgets Co. in the U.S. market. It lasts two years.
4.2 Renewal. It renews unless a party objects:
(a) in writing; and
(b) sixty days before the end of the term.

Section 5 Payment. Fees are due on receipt, e.g. by wire. See No. 7 of Exhibit A.
"""


def sentences(text: str) -> list[str]:
    return [s.text for s in segment(text).sentences]


def test_offsets_are_exact_for_every_segment():
    parts = segment(CONTRACT)
    for piece in parts.sections + parts.clauses + parts.sentences:
        assert CONTRACT[piece.start : piece.end] == piece.text
        assert piece.text == piece.text.strip()


def test_abbreviations_do_not_end_sentences():
    found = sentences(CONTRACT)
    assert "This Agreement is made by Acme Inc. and U.S. Widgets Co. in the U.S. market." in found
    assert "It lasts two years." in found
    assert "Fees are due on receipt, e.g. by wire." in found
    assert "See No. 7 of Exhibit A." in found


def test_numbering_markers_are_recognised():
    assert leading_marker("ARTICLE IV") == "ARTICLE IV"
    assert leading_marker("4.1 Term.") == "4.1"
    assert leading_marker("1.2.3 Fees") == "1.2.3"
    assert leading_marker("12. Notices") == "12."
    assert leading_marker("(a) in writing") == "(a)"
    assert leading_marker("(iv) and") == "(iv)"
    assert leading_marker("Section 5 Payment") == "Section 5"
    assert leading_marker("§ 3.2 Scope") == "§ 3.2"
    assert leading_marker("The 2024 budget") == ""


def test_list_items_are_their_own_clauses_and_headings_are_headings():
    parts = segment(CONTRACT)
    numbers = [c.number for c in parts.clauses]
    assert numbers[:2] == ["", "ARTICLE IV"] and "(a)" in numbers and "(b)" in numbers and "Section 5" in numbers
    headings = [s.text for s in parts.sentences if s.kind == "heading"]
    assert headings[:3] == ["MASTER AGREEMENT", "ARTICLE IV", "TERM AND TERMINATION"]
    renewal = next(s for s in parts.sentences if s.text.startswith("(b)"))
    assert renewal.heading == "TERM AND TERMINATION"


def test_sections_follow_top_level_headings():
    sections = segment(CONTRACT).sections
    assert [(s.number, s.heading) for s in sections] == [
        ("", "MASTER AGREEMENT"), ("ARTICLE IV", "TERM AND TERMINATION"), ("Section 5", "Payment")]
    assert sections[1].text.startswith("ARTICLE IV") and sections[1].text.endswith("end of the term.")


def test_cuad_style_flattened_lines_split_into_paragraphs():
    text = "1. DEFINITIONS.     1.1 \"Affiliate\" means any entity that controls a Party.     1.2 \"Term\" means the term."
    parts = segment(text)
    assert [c.number for c in parts.clauses] == ["1.", "1.1", "1.2"]
    assert parts.clauses[1].heading == "DEFINITIONS"


def test_very_long_runs_are_cut_for_the_model():
    text = "The Supplier shall deliver " + ", ".join(f"item {i}" for i in range(400)) + "."
    found = segment(text).sentences
    assert len(found) > 1 and all(len(s.text) <= 700 for s in found)
    assert all(text[s.start : s.end] == s.text for s in found)
