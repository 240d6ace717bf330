"""Server-rendered SVG bar charts for the loan pages (no JavaScript, no CDN).

Labels go through Django's escaping, and the SVG is marked safe only after that.
"""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

BAR_COLOUR = "#3b6fd8"
PAIR_COLOURS = ("#9aa5b8", "#3b6fd8")  # expected (training), actual (recent)
FLAG_COLOUR = "#c2410c"


def bar_chart(items: list[tuple[str, float]], *, title: str, value_format: str = "{:.0f}",
              flagged: set[str] | None = None, threshold: float | None = None) -> SafeString:
    """Horizontal bars, one per (label, value); `threshold` draws a dashed reference line."""
    flagged = flagged or set()
    width, label_w, row_h = 560, 190, 24
    plot_w = width - label_w - 70
    top = max([v for _, v in items] + [threshold or 0.0, 1e-9])
    height = 30 + row_h * len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%">',
             f'<title>{escape(title)}</title>']
    for i, (label, value) in enumerate(items):
        y = 20 + i * row_h
        bar = plot_w * max(value, 0.0) / top
        colour = FLAG_COLOUR if label in flagged else BAR_COLOUR
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar:.1f}" height="{row_h - 8}" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + bar + 6:.1f}" y="{y + 15}" font-size="12">{escape(value_format.format(value))}</text>')
    if threshold is not None:
        x = label_w + plot_w * threshold / top
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="14" y2="{height - 4}" stroke="{FLAG_COLOUR}" stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def paired_bar_chart(labels: list[str], expected: list[float], actual: list[float], *, title: str) -> SafeString:
    """Two bars per bin: training share (grey) against recent share (blue), as percentages."""
    width, label_w, row_h = 560, 150, 30
    plot_w = width - label_w - 60
    top = max([*expected, *actual, 1e-9])
    height = 36 + row_h * len(labels)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%">',
             f'<title>{escape(title)}</title>',
             f'<rect x="{label_w}" y="2" width="10" height="10" fill="{PAIR_COLOURS[0]}"/><text x="{label_w + 14}" y="11" font-size="11">training</text>',
             f'<rect x="{label_w + 80}" y="2" width="10" height="10" fill="{PAIR_COLOURS[1]}"/><text x="{label_w + 94}" y="11" font-size="11">recent</text>']
    for i, label in enumerate(labels):
        y = 22 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" font-size="11">{escape(label)}</text>')
        for j, (share, colour) in enumerate(zip((expected[i], actual[i]), PAIR_COLOURS, strict=True)):
            bar = plot_w * share / top
            parts.append(f'<rect x="{label_w}" y="{y + 2 + j * 12}" width="{bar:.1f}" height="11" fill="{colour}"/>')
            parts.append(f'<text x="{label_w + bar + 4:.1f}" y="{y + 11 + j * 12}" font-size="10">{share:.1%}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
