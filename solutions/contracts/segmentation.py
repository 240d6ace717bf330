"""Split a contract's text into sections, clauses and sentences with exact character offsets.

Every segment is a [start, end) span of the document string, so `text[start:end]` is the
segment's text, byte for byte, and a finding on a segment maps straight back to the page.
Paragraph breaks are blank lines, a line that starts with a numbering marker, or a run of three or
more spaces (how CUAD's plain-text contracts mark line breaks). Numbering markers recognised:
"1.", "1.1", "1.1.2", "(a)", "(iv)", "(3)", "A.", "ARTICLE IV", "Section 5", "§ 3".
"""

import itertools
import re
from dataclasses import dataclass

# The word before a full stop that does not end a sentence ("Inc.", "U.S.", "No. 5", "e.g.").
ABBREVIATIONS = frozenset(
    "inc ltd co corp llc l.l.c lp llp plc n.a s.a gmbh ag bv nv pty mr mrs ms dr prof st jr sr no nos "
    "sec secs art arts para paras cl vs v etc e.g i.e cf approx dept est fig jan feb mar apr jun jul aug "
    "sep sept oct nov dec u.s u.k u.s.a e.u p.c ph.d s.p.a k.k int'l intl mfg assn bros ave blvd rd ex "
    "exh sch viz".split()
)

ROMAN = r"(?:[IVXLC]+|[ivxlc]+)"
MARKER = re.compile(
    r"(?P<marker>"
    rf"(?:ARTICLE|Article)\s+(?:{ROMAN}|\d+)\b\.?"
    r"|(?:SECTION|Section)\s+\d+(?:\.\d+)*\.?"
    r"|§+\s*\d+(?:\.\d+)*\.?"
    r"|\d{1,2}(?:\.\d{1,2}){1,3}\.?(?=\s)"
    r"|\d{1,2}\.(?=\s)"
    rf"|\((?:[a-z]{{1,2}}|{ROMAN}|\d{{1,2}})\)"
    r"|[A-Z]\.(?=\s+[A-Z])"
    r")"
)
# A paragraph boundary: a blank line, or three spaces or more (CUAD's flattened line breaks).
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*|[ \t]{3,}|\f")
# A single line break followed by a numbering marker also starts a new paragraph.
MARKER_LINE = re.compile(r"\n(?=[ \t]*(?:ARTICLE|Article|SECTION|Section|§|\d{1,2}(?:\.\d{1,2})*\.?\s|\([a-z0-9ivx]{1,4}\)\s))")
SENTENCE_END = re.compile(r"[.!?;:](?:[\"'\u201d\u2019)\]]*)(?=\s+[\"\u201c'(\[]?[A-Z0-9§])")
HEADING_MAX_CHARS = 90
HEADING_LINE_CHARS = 50
# Longest sentence segment the model reads; longer runs split at the last clause break before it.
MAX_SENTENCE_CHARS = 700


@dataclass(frozen=True)
class Segment:
    """A [start, end) span of the document: kind "section", "clause", "heading" or "sentence"."""

    kind: str
    start: int
    end: int
    text: str
    number: str = ""  # its numbering marker ("1.2", "(a)", "ARTICLE IV"), if it starts with one
    heading: str = ""  # the heading of the section it belongs to

    def to_dict(self) -> dict:
        return {"kind": self.kind, "start": self.start, "end": self.end, "text": self.text,
                "number": self.number, "heading": self.heading}


@dataclass(frozen=True)
class Segmentation:
    sections: list[Segment]
    clauses: list[Segment]
    sentences: list[Segment]  # headings and sentences, in document order: the units the model tags


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraphs(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the non-empty paragraphs, whitespace trimmed."""
    cuts = {0, len(text)} | {m.start() for m in MARKER_LINE.finditer(text)}
    for match in PARAGRAPH_BREAK.finditer(text):
        cuts |= {match.start(), match.end()}
    # A line break after a heading line ("RECITALS", "ARTICLE IV") ends that line's paragraph.
    line_start = 0
    for match in re.finditer(r"\n", text):
        line = text[line_start : match.start()].strip()
        # Short, so that a wrapped line of an all-caps paragraph (a PDF's disclaimer) is not one.
        following = text[match.end() : match.end() + 1]
        if line and len(line) <= HEADING_LINE_CHARS and _upper_share(line) > 0.8 and not following.islower():
            cuts.add(match.start())
        line_start = match.end()
    cuts = sorted(cuts)
    spans = []
    for start, end in itertools.pairwise(cuts):
        start, end = _trimmed(text, start, end)
        if end > start:
            spans.append((start, end))
    return spans


def _upper_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def leading_marker(text: str) -> str:
    """The numbering marker the text starts with, or ""."""
    match = MARKER.match(text)
    return match.group("marker") if match else ""


def marker_level(marker: str) -> int:
    """1 for articles and top-level numbers, deeper for 1.1 / (a) / (i)."""
    if not marker:
        return 0
    if marker[:1] in "Aa" and marker.lower().startswith("article"):
        return 1
    if marker.lower().startswith("section") or marker.startswith("§"):
        return 1 + marker.rstrip(".").count(".")
    if marker[0].isdigit():
        return 1 + marker.rstrip(".").count(".")
    if marker.startswith("("):
        return 4
    return 2


def is_heading(text: str) -> bool:
    """A short line without a sentence in it: "ARTICLE IV", "5. Term and Termination", "RECITALS"."""
    body = text[len(leading_marker(text)):].strip()
    if len(text) > HEADING_MAX_CHARS or not body:
        return bool(text) and len(text) <= HEADING_MAX_CHARS and bool(leading_marker(text))
    if not any(c.isalpha() for c in body):
        return False
    upper_share = _upper_share(body)
    words = body.rstrip(".:").split()
    title_case = all(w[:1].isupper() or w.lower() in {"and", "of", "the", "to", "for", "on", "in", "or", "a"} for w in words)
    return (upper_share > 0.8 or title_case) and not body.rstrip().endswith((",", ";")) and len(words) <= 12


def _is_abbreviation(text: str, stop: int) -> bool:
    """Whether the full stop at `stop` ends an abbreviation or an initial rather than a sentence."""
    if text[stop] != ".":
        return False
    start = stop
    while start > 0 and not text[start - 1].isspace() and text[start - 1] not in "(\"“":
        start -= 1
    word = text[start:stop].lower()
    if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return True
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))  # u.s, n.a, l.l.c


def _split_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut a run longer than MAX_SENTENCE_CHARS at semicolons/commas so the model sees it all."""
    spans = []
    while end - start > MAX_SENTENCE_CHARS:
        window = text[start : start + MAX_SENTENCE_CHARS]
        cut = max(window.rfind("; "), window.rfind(", "), window.rfind(" "))
        cut = start + (cut + 1 if cut > MAX_SENTENCE_CHARS // 3 else MAX_SENTENCE_CHARS)
        piece = _trimmed(text, start, cut)
        if piece[1] > piece[0]:
            spans.append(piece)
        start = _trimmed(text, cut, end)[0]
    if end > start:
        spans.append((start, end))
    return spans


def sentences_in(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside the paragraph text[start:end]."""
    spans, begin = [], start
    marker = leading_marker(text[start:end])
    search_from = start + len(marker)
    for match in SENTENCE_END.finditer(text, search_from, end):
        stop = match.start()
        if _is_abbreviation(text, stop):
            continue
        piece = _trimmed(text, begin, match.end())
        if piece[1] > piece[0]:
            spans.extend(_split_long(text, *piece))
        begin = match.end()
    piece = _trimmed(text, begin, end)
    if piece[1] > piece[0]:
        spans.extend(_split_long(text, *piece))
    return spans


def segment(text: str) -> Segmentation:
    """Sections (top-level numbered or headed parts), clauses (paragraphs) and sentences."""
    sections: list[Segment] = []
    clauses: list[Segment] = []
    sentences: list[Segment] = []
    heading = ""
    section_start, section_number, section_heading, section_has_body = None, "", "", False

    def close_section(until: int) -> None:
        if section_start is not None:
            start, end = _trimmed(text, section_start, until)
            if end > start:
                sections.append(Segment("section", start, end, text[start:end], section_number, section_heading))

    for start, end in paragraphs(text):
        body = text[start:end]
        marker = leading_marker(body)
        heading_line = is_heading(body)
        spans = [(start, end)] if heading_line else sentences_in(text, start, end)
        # A top-level number opens a section ("5. TERM. ..."), and so does an unnumbered heading.
        first = text[spans[0][0] : spans[0][1]][len(marker):].strip().strip(".:").strip()
        if heading_line and not marker and section_number and not section_heading and not section_has_body:
            # "ARTICLE IV" then "TERM AND TERMINATION" on the next line: one section, that title.
            section_heading = heading = first
        elif (marker and marker_level(marker) == 1) or (heading_line and not marker):
            close_section(start)
            section_start, section_number, section_has_body = start, marker, not heading_line
            section_heading = first if len(first) <= HEADING_MAX_CHARS else ""
            heading = section_heading
        else:
            section_has_body = True
            if section_start is None:
                section_start = start
        clauses.append(Segment("clause", start, end, body, marker, heading))
        kind = "heading" if heading_line else "sentence"
        for index, (s, e) in enumerate(spans):
            sentences.append(Segment(kind, s, e, text[s:e], marker if index == 0 else "", heading))
    close_section(len(text))
    return Segmentation(sections=sections, clauses=clauses, sentences=sentences)
