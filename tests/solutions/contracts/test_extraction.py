"""Extraction keeps exact offsets and pages; unreadable files get clear errors."""

import io

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from solutions.contracts.extraction import PAGE_BREAK, UnreadableDocument, extract
from solutions.contracts.segmentation import segment

from .conftest import SAMPLES


def pdf_with_pages(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def test_pdf_pages_are_kept_and_offsets_point_into_the_text():
    document = extract("two.pdf", pdf_with_pages(["First page: the Term is two years.", "Second page: governed by Delaware law."]))
    assert document.kind == "pdf" and document.page_count == 2
    assert document.text.count(PAGE_BREAK) == 1
    first, second = document.pages
    assert "Term is two years" in document.text[first[0] : first[1]]
    assert "Delaware" in document.text[second[0] : second[1]]
    assert document.page_of(document.text.index("Delaware")) == 2
    assert document.page_of(document.text.index("Term")) == 1


@pytest.mark.parametrize("name", ["master_services_agreement.pdf", "master_services_agreement.docx", "master_services_agreement.txt"])
def test_every_segment_of_the_sample_maps_back_to_the_document_exactly(name):
    document = extract(name, (SAMPLES / name).read_bytes())
    parts = segment(document.text)
    for piece in parts.sentences + parts.clauses + parts.sections:
        assert document.text[piece.start : piece.end] == piece.text
    assert any("SHALL NOT EXCEED $1,000,000" in s.text for s in parts.sentences)
    assert "Northwind Analytics" in document.text


def test_sample_pdf_has_several_pages_with_the_governing_law_on_a_later_one():
    document = extract("x.pdf", (SAMPLES / "master_services_agreement.pdf").read_bytes())
    assert 3 <= document.page_count <= 5
    assert document.page_of(document.text.index("laws of the State of New York")) > 1


def test_docx_paragraphs_and_tables_are_read():
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("1. Term. This Agreement lasts one year.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Fee", "$5,000"
    document.save(buffer)
    extracted = extract("a.docx", buffer.getvalue())
    assert "This Agreement lasts one year." in extracted.text and "Fee | $5,000" in extracted.text


def test_html_drops_scripts_and_styles_and_keeps_blocks_apart():
    html = b"<html><head><style>p{}</style><script>var secret=1;</script></head><body><h1>Terms</h1><p>One &amp; two.</p><p>Three.</p></body></html>"
    document = extract("a.html", html)
    assert "secret" not in document.text and "p{}" not in document.text
    assert document.text == "Terms\n\nOne & two.\n\nThree."


def test_text_keeps_its_characters_and_form_feeds_make_pages():
    document = extract("a.txt", "Caf\u00e9 clause.\r\nNext line.\fPage two.".encode())
    assert document.text == "Caf\u00e9 clause.\nNext line.\fPage two."
    assert document.page_count == 2 and document.page_of(document.text.index("Page two")) == 2


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_with_pages(["Secret terms of the deal."]))))
    writer.encrypt(user_password="open-sesame", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 150, style="F")  # a picture of a page, no text layer
    return bytes(pdf.output())


def corrupt_docx() -> bytes:
    good = io.BytesIO()
    docx.Document().save(good)
    return good.getvalue()[:200]


@pytest.mark.parametrize(("name", "data", "message"), [
    ("locked.pdf", encrypted_pdf(), "encrypted"),
    ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage", "damaged"),
    ("renamed.pdf", b"PK\x03\x04 this is a zip", "not a PDF"),
    ("empty.pdf", b"", "empty"),
    ("blank.txt", b"   \n ", "empty"),
    ("scan.pdf", scanned_pdf(), "no text layer"),
    ("broken.docx", corrupt_docx(), "damaged"),
    ("contract.exe", b"MZ....", "Unsupported file type"),
    ("binary.txt", b"\x00\x01\x02 binary", "binary"),
    ("empty.html", b"<html><script>x()</script></html>", "no visible text"),
])
def test_unreadable_files_get_a_clear_error(name, data, message):
    with pytest.raises(UnreadableDocument, match=message):
        extract(name, data)
