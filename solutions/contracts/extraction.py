"""Text extraction from PDF, DOCX, plain text and HTML into one string with page spans.

The extracted document is a single string; every offset the solution stores (segments,
findings, key terms) indexes that string exactly. Pages are [start, end) spans of it: a PDF
keeps its pages (text layer via pypdf, pages joined by a form feed), other formats are one page.
A file that cannot be read raises UnreadableDocument with a message meant for the analyst.
"""

import io
import re
import zipfile
from bisect import bisect_right
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

PAGE_BREAK = "\f"
# Fewer readable characters than this per page means the PDF is a scan without a text layer.
MIN_CHARS_PER_PAGE = 20


class UnreadableDocument(ValueError):
    """The file is empty, corrupt, encrypted, scanned without text, or of an unknown kind."""


@dataclass(frozen=True)
class ExtractedDocument:
    text: str
    pages: list[tuple[int, int]]  # [start, end) of each page in `text`, in page order
    kind: str  # "pdf", "docx", "txt", "html"

    def page_of(self, offset: int) -> int:
        """1-based page number holding character `offset`."""
        starts = [start for start, _ in self.pages]
        return max(1, bisect_right(starts, offset))

    @property
    def page_count(self) -> int:
        return len(self.pages)


def _normalise(text: str) -> str:
    """Line endings to \\n and no NUL characters, so offsets are the same on every platform."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _joined(page_texts: list[str], kind: str) -> ExtractedDocument:
    pieces, pages, position = [], [], 0
    for index, page_text in enumerate(page_texts):
        if index:
            pieces.append(PAGE_BREAK)
            position += len(PAGE_BREAK)
        pieces.append(page_text)
        pages.append((position, position + len(page_text)))
        position += len(page_text)
    return ExtractedDocument("".join(pieces), pages, kind)


def extract_pdf(data: bytes) -> ExtractedDocument:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if not data.lstrip()[:5] == b"%PDF-":
        raise UnreadableDocument("This file is not a PDF (it has no PDF header); it may be damaged.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An owner-password-only PDF opens with the empty user password; anything else cannot.
            try:
                if not reader.decrypt(""):
                    raise UnreadableDocument("This PDF is encrypted with a password. Upload an unprotected copy.")
            except (FileNotDecryptedError, NotImplementedError):
                raise UnreadableDocument("This PDF is encrypted with a password. Upload an unprotected copy.") from None
        page_texts = [_normalise(page.extract_text() or "").strip("\n") for page in reader.pages]
    except UnreadableDocument:
        raise
    except FileNotDecryptedError:
        raise UnreadableDocument("This PDF is encrypted with a password. Upload an unprotected copy.") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        raise UnreadableDocument(f"This PDF is damaged and cannot be read ({type(exc).__name__}).") from None
    if not page_texts:
        raise UnreadableDocument("This PDF has no pages.")
    if sum(len(t.strip()) for t in page_texts) < MIN_CHARS_PER_PAGE * len(page_texts):
        raise UnreadableDocument(
            "This PDF has no text layer (it looks like a scan). Run it through OCR, or upload the "
            "original DOCX or a text PDF."
        )
    return _joined(page_texts, "pdf")


def extract_docx(data: bytes) -> ExtractedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"This DOCX file is damaged and cannot be read ({type(exc).__name__}).") from None
    except Exception as exc:  # lxml raises its own XMLSyntaxError for a broken document part
        if type(exc).__module__.startswith("lxml"):
            raise UnreadableDocument("This DOCX file is damaged: its document XML is broken.") from None
        raise
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    # A blank line between paragraphs: segmentation reads it as a paragraph break.
    text = _normalise("\n\n".join(line for line in lines if line.strip()))
    if not text.strip():
        raise UnreadableDocument("This DOCX file has no text.")
    return _joined([text], "docx")


def decode_text(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def extract_txt(data: bytes) -> ExtractedDocument:
    if b"\x00" in data[:4096]:
        raise UnreadableDocument("This file is binary, not plain text.")
    text = _normalise(decode_text(data))
    if not text.strip():
        raise UnreadableDocument("This text file is empty.")
    # Form feeds in a text file mark pages, as in `pdftotext` output.
    return _joined(text.split(PAGE_BREAK), "txt")


class _HTMLText(HTMLParser):
    """Visible text of an HTML page; block elements become line breaks; script/style dropped."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
              "table", "ul", "ol", "blockquote", "pre", "title", "hr"}
    HIDDEN = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.HIDDEN:
            self.hidden_depth += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def extract_html(data: bytes) -> ExtractedDocument:
    parser = _HTMLText()
    parser.feed(decode_text(data))
    parser.close()
    text = re.sub(r"[ \t]*\n[ \t\n]*\n[ \t]*", "\n\n", "".join(parser.parts)).strip()
    if not text:
        raise UnreadableDocument("This HTML page has no visible text.")
    return _joined([text], "html")


EXTRACTORS = {".pdf": extract_pdf, ".docx": extract_docx, ".txt": extract_txt, ".html": extract_html, ".htm": extract_html}
INPUT_KINDS = tuple(EXTRACTORS)


def extract(name: str, data: bytes) -> ExtractedDocument:
    """The document text of a file, by its extension."""
    suffix = PurePath(name).suffix.lower()
    extractor = EXTRACTORS.get(suffix)
    if extractor is None:
        raise UnreadableDocument(f"Unsupported file type {suffix or '(none)'}; upload PDF, DOCX, TXT or HTML.")
    if not data.strip():
        raise UnreadableDocument("The file is empty.")
    return extractor(data)
