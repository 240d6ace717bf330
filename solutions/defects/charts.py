"""Server-side SVG charts of defect inspection (no script, works offline)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def bar_chart_svg(rows: list[tuple[str, float, str]], width: int = 520) -> SafeString:
    """Horizontal bars: (label, share in [0, 1], caption) per row; labels are escaped."""
    bar_height, gap, label_width = 18, 8, 150
    height = max(1, len(rows)) * (bar_height + gap) + gap
    span = width - label_width - 90
    bars = format_html_join(
        "\n", (
            '<text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="{}" class="chart-bar"></rect>'
            '<text x="{}" y="{}" class="chart-value">{}</text>'
        ),
        (
            (label_width - 8, gap + i * (bar_height + gap) + 13, label,
             label_width, gap + i * (bar_height + gap), f"{max(share, 0.0) * span:.1f}", bar_height,
             label_width + max(share, 0.0) * span + 6, gap + i * (bar_height + gap) + 13, caption)
            for i, (label, share, caption) in enumerate(rows)
        ),
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-label="Defect rate by class">{}</svg>', width, height, width, height, bars,
    )
