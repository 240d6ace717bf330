"""Throughput of contract review on a 50-page contract: pages per minute end to end against
text extraction alone.

    python -m solutions.contracts.bench [--pages 50] [--repeats 3] [--threads 2]

The contract is the sample agreement's text repeated into a PDF of `--pages` pages (fpdf2).
End to end = PDF extraction + segmentation + the clause model over every sentence + key terms
+ the default playbook (services.analysis, what the job runs per document, minus the database
writes). Floor = PDF extraction alone. Uses the shipped checkpoint under models/contracts/clauses
(a random model of the same shape when none is installed, which runs at the same speed).
Best of `--repeats` runs. Writes docs/benchmarks/contracts.json and contracts.md.
"""

import argparse
import json
import os
import platform as host_platform
import time
from pathlib import Path

import torch
from fpdf import FPDF

from solutions.contracts.classifier import ClauseClassifier
from solutions.contracts.extraction import extract
from solutions.contracts.playbook import default_rules_copy

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "docs" / "benchmarks"
SAMPLE = Path(__file__).resolve().parent / "samples" / "master_services_agreement.txt"
MODEL_DIR = ROOT / "models" / "contracts" / "clauses"


def long_contract_pdf(pages: int) -> bytes:
    """The sample's paragraphs repeated until the PDF has exactly `pages` pages."""
    paragraphs = [p.strip() for p in SAMPLE.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    pdf = FPDF(format="Letter")
    pdf.set_margins(25, 25, 25)
    pdf.set_auto_page_break(auto=True, margin=25)
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    index = 0
    while True:
        pdf.multi_cell(0, 6, paragraphs[index % len(paragraphs)])
        pdf.ln(4)
        index += 1
        if pdf.page_no() > pages:
            break
    # Rebuild with one paragraph fewer so the page count is exactly `pages`.
    pdf = FPDF(format="Letter")
    pdf.set_margins(25, 25, 25)
    pdf.set_auto_page_break(auto=True, margin=25)
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for i in range(index - 1):
        pdf.multi_cell(0, 6, paragraphs[i % len(paragraphs)])
        pdf.ln(4)
    return bytes(pdf.output())


def classifier() -> tuple[ClauseClassifier, str]:
    if (MODEL_DIR / "config.json").is_file():
        return ClauseClassifier.load(MODEL_DIR), "shipped checkpoint"
    from engine.config import HeadSpec
    from engine.model import MoETransformer
    from engine.tokenizer import TextTokenizer
    from solutions.contracts.classifier import HEAD
    from solutions.contracts.training import VOCAB_SIZE, model_config

    tokenizer = TextTokenizer.train([SAMPLE.read_text()] * 3, vocab_size=VOCAB_SIZE, min_frequency=1)
    model = MoETransformer(model_config(tokenizer.vocab_size, [HeadSpec(HEAD, "multilabel", 41)]))
    return ClauseClassifier(model, tokenizer, [f"category {i}" for i in range(41)], 0.5), "random model of the shipped shape"


def best_seconds(work, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from solutions.contracts.services import analysis  # imports Django models: set up first

    data = long_contract_pdf(args.pages)
    document = extract("bench.pdf", data)
    model, model_kind = classifier()
    rules = default_rules_copy()
    result = analysis(document, model, rules)
    extraction_s = best_seconds(lambda: extract("bench.pdf", data), args.repeats)
    end_to_end_s = best_seconds(lambda: analysis(extract("bench.pdf", data), model, rules), args.repeats)
    record = {
        "pages": document.page_count, "characters": len(document.text), "segments": len(result["spans"]),
        "findings": len(result["findings"]), "model": model_kind, "threads": args.threads,
        "extraction_seconds": round(extraction_s, 3), "end_to_end_seconds": round(end_to_end_s, 3),
        "extraction_pages_per_minute": round(60 * document.page_count / extraction_s, 1),
        "end_to_end_pages_per_minute": round(60 * document.page_count / end_to_end_s, 1),
        "machine": f"{host_platform.machine()} {host_platform.processor() or ''}".strip(), "torch": torch.__version__,
    }
    ratio = record["end_to_end_seconds"] / record["extraction_seconds"]
    table = "\n".join([
        "# Contract review throughput", "",
        f"A {record['pages']}-page PDF ({record['characters']} characters, {record['segments']} sentence segments), "
        f"{args.threads} CPU threads, best of {args.repeats}; model: {model_kind}. "
        "Command: `python -m solutions.contracts.bench`.", "",
        "| stage | seconds | pages per minute |", "|---|---|---|",
        f"| text extraction alone (pypdf) | {record['extraction_seconds']} | {record['extraction_pages_per_minute']} |",
        f"| end to end (extraction + segmentation + clause model + key terms + playbook) | {record['end_to_end_seconds']} | "
        f"{record['end_to_end_pages_per_minute']} |", "",
        f"End to end takes {ratio:.1f}x the time of extraction alone. Measured on a shared CPU "
        "(other jobs running), so the figures are a floor.",
    ])
    print(table)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "contracts.json").write_text(json.dumps(record, indent=2) + "\n")
    (OUT_DIR / "contracts.md").write_text(table + "\n")


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
    django.setup()
    main()
