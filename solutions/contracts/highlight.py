"""The document as HTML with its findings highlighted: one <mark> per finding span, coloured
by category, and a page marker at every page break. The text is escaped piece by piece, so the
offsets of the stored document map one to one onto the marked-up page."""

from collections import defaultdict
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from solutions.contracts.extraction import PAGE_BREAK


def category_hue(categories: list[str], category: str) -> int:
    """A hue per category, spread around the colour wheel in category order."""
    index = categories.index(category) if category in categories else len(categories)
    return (index * 137) % 360  # the golden angle keeps neighbours apart


def _escaped(text: str, page: list[int]) -> str:
    parts = []
    for index, piece in enumerate(text.split(PAGE_BREAK)):
        if index:
            page[0] += 1
            parts.append(f'<span class="page-break">Page {page[0]}</span>')
        parts.append(escape(piece))
    return "".join(parts)


def highlighted(text: str, findings: list[Any], categories: list[str]) -> SafeString:
    """findings: objects with start, end, final_category, score, status, pk (non-overlapping
    spans after grouping; sentence segments never overlap)."""
    by_span: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for finding in findings:
        if finding.status != "rejected":
            by_span[(finding.start, finding.end)].append(finding)
    html, position, page = [], 0, [1]
    for (start, end), group in sorted(by_span.items()):
        if start < position:
            continue
        html.append(_escaped(text[position:start], page))
        group.sort(key=lambda f: -f.score)
        label = ", ".join(f"{f.final_category} ({f.score:.2f})" for f in group)
        hue = category_hue(categories, group[0].final_category)
        html.append(f'<mark class="clause hue-{hue // 10}" id="finding-{group[0].pk}" title="{escape(label)}">'
                    f"{_escaped(text[start:end], page)}</mark>")
        position = end
    html.append(_escaped(text[position:], page))
    return mark_safe(f'<span class="page-break">Page 1</span>{"".join(html)}')
