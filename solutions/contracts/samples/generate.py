"""Regenerate the sample contract's PDF and DOCX from master_services_agreement.txt.

Run: `python -m solutions.contracts.samples.generate`. The text is ours (written for Quorum),
so the samples carry no third-party terms.
"""

from pathlib import Path

import docx
from fpdf import FPDF

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "master_services_agreement.txt"


def paragraphs() -> list[str]:
    return [p.strip() for p in SOURCE.read_text(encoding="utf-8").split("\n\n") if p.strip()]


def write_pdf(path: Path) -> None:
    pdf = FPDF(format="Letter")
    pdf.set_margins(25, 25, 25)
    pdf.set_auto_page_break(auto=True, margin=25)
    pdf.set_title("Master Services Agreement (sample)")
    pdf.add_page()
    for paragraph in paragraphs():
        heading = paragraph.isupper() and len(paragraph) < 60
        pdf.set_font("Helvetica", "B" if heading else "", 13 if heading else 11)
        pdf.multi_cell(0, 6, paragraph)
        pdf.ln(4)
    pdf.output(str(path))


def write_docx(path: Path) -> None:
    document = docx.Document()
    for paragraph in paragraphs():
        if paragraph.isupper() and len(paragraph) < 60:
            document.add_heading(paragraph.title(), level=1)
        else:
            document.add_paragraph(paragraph)
    document.save(str(path))


def main() -> None:
    write_pdf(HERE / "master_services_agreement.pdf")
    write_docx(HERE / "master_services_agreement.docx")


if __name__ == "__main__":
    main()
