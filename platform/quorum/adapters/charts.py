"""The training loss curve as a small server-side SVG (no JavaScript charting)."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD = 480, 180, 32
SERIES = (("train_loss", "#2563eb", "training loss"), ("valid_loss", "#dc2626", "validation loss"))


def loss_curve_svg(curve: list[dict]) -> SafeString:
    """Training and validation loss per epoch; an empty string before the first epoch ends."""
    points = [p for p in curve if p.get("train_loss") is not None]
    if not points:
        return SafeString("")
    values = [p[key] for p in points for key, _, _ in SERIES if p.get(key) is not None]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    last_epoch = max(p["epoch"] for p in points)

    def xy(epoch: int, value: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * ((epoch - 1) / max(1, last_epoch - 1))
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * ((value - low) / span)
        return f"{x:.1f},{y:.1f}"

    lines = format_html_join(
        "", '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title></polyline>',
        ((colour, " ".join(xy(p["epoch"], p[key]) for p in points if p.get(key) is not None), label)
         for key, colour, label in SERIES),
    )
    legend = format_html_join(
        "", '<text x="{}" y="14" font-size="11" fill="{}">{}</text>',
        ((PAD + 130 * i, colour, label) for i, (_, colour, label) in enumerate(SERIES)),
    )
    return format_html(
        '<svg class="loss-curve" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="Loss per epoch">{legend}'
        '<line x1="{p}" y1="{b}" x2="{r}" y2="{b}" stroke="#94a3b8"/>'
        '<text x="{p}" y="{t}" font-size="10">{high}</text>'
        '<text x="{p}" y="{lb}" font-size="10">{low}</text>'
        '<text x="{r}" y="{t2}" font-size="10" text-anchor="end">epoch {last}</text>{lines}</svg>',
        w=WIDTH, h=HEIGHT, legend=legend, p=PAD, b=HEIGHT - PAD, r=WIDTH - PAD, t=PAD - 4,
        lb=HEIGHT - PAD + 12, t2=HEIGHT - 8, high=f"{high:.4f}", low=f"{low:.4f}", last=last_epoch, lines=lines,
    )
