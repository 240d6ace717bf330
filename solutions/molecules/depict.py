"""SVG pictures drawn on the server: 2D structures with alert atoms highlighted, and the radar.

No JavaScript charting library: the radar is a plain SVG polygon over six axes, so pages work
offline and the same image serves the browser and the API.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

from rdkit import Chem, rdBase
from rdkit.Chem.Draw import rdMolDraw2D

from solutions.molecules.chemistry import RADAR_AXES

ALERT_COLOUR = (0.94, 0.42, 0.36)  # warm red, readable on white and for most colour-blind users


def molecule_svg(smiles: str, highlight_atoms: list[int] | None = None, size: int = 260) -> str:
    """The molecule's 2D depiction as SVG; highlighted atoms (and bonds between them) in red."""
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return _placeholder_svg(size, "no structure")
    atoms = sorted({i for i in highlight_atoms or [] if 0 <= i < mol.GetNumAtoms()})
    chosen = set(atoms)
    bonds = [
        b.GetIdx() for b in mol.GetBonds() if {b.GetBeginAtomIdx(), b.GetEndAtomIdx()} <= chosen
    ]
    drawer = rdMolDraw2D.MolDraw2DSVG(size, size)
    options = drawer.drawOptions()
    options.clearBackground = False
    options.addStereoAnnotation = True
    rdMolDraw2D.PrepareAndDrawMolecule(
        drawer,
        mol,
        highlightAtoms=atoms,
        highlightBonds=bonds,
        highlightAtomColors=dict.fromkeys(atoms, ALERT_COLOUR),
        highlightBondColors=dict.fromkeys(bonds, ALERT_COLOUR),
    )
    drawer.FinishDrawing()
    svg = drawer.GetDrawingText()
    return svg[svg.index("<svg") :]  # drop the XML declaration so the SVG can be inlined


def _placeholder_svg(size: int, text: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}"><text x="50%" y="50%" text-anchor="middle" '
        f'fill="#888" font-size="14">{escape(text)}</text></svg>'
    )


def _radar_fraction(axis: dict[str, Any]) -> tuple[float, float, float]:
    """Value, low and high of one axis on a 0..1 scale that shows the range in the middle."""
    low, high = float(axis["low"]), float(axis["high"])
    span = high - low
    lo_plot, hi_plot = low - 0.5 * span, high + 0.5 * span  # the range fills the middle half

    def scale(x: float) -> float:
        return min(max((x - lo_plot) / (hi_plot - lo_plot), 0.0), 1.0)

    return scale(float(axis["value"])), scale(low), scale(high)


def radar_svg(radar: dict[str, Any], size: int = 300) -> str:
    """The bioavailability radar: the molecule's polygon over the pink optimal band."""
    centre = size / 2
    radius = size * 0.34
    axes = [radar["axes"][name] for name in RADAR_AXES]

    def point(fraction: float, k: int) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * k / len(axes)
        return centre + radius * fraction * math.cos(angle), centre + radius * fraction * math.sin(
            angle
        )

    def polygon(fractions: list[float]) -> str:
        return " ".join(
            f"{x:.1f},{y:.1f}" for x, y in (point(f, k) for k, f in enumerate(fractions))
        )

    scaled = [_radar_fraction(axis) for axis in axes]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img" aria-label="Bioavailability radar">',
        f'<polygon points="{polygon([1.0] * len(axes))}" fill="none" stroke="#ccc"/>',
        f'<polygon points="{polygon([hi for _, _, hi in scaled])}" fill="#f8c8d4" stroke="none"/>',
        f'<polygon points="{polygon([lo for _, lo, _ in scaled])}" fill="#fff" stroke="none"/>',
    ]
    for k in range(len(axes)):
        x, y = point(1.0, k)
        parts.append(f'<line x1="{centre}" y1="{centre}" x2="{x:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
    colour = "#2a7d4f" if radar["pass"] else "#c0392b"
    parts.append(
        f'<polygon points="{polygon([v for v, _, _ in scaled])}" fill="none" '
        f'stroke="{colour}" stroke-width="2"/>'
    )
    for k, (name, axis) in enumerate(zip(RADAR_AXES, axes, strict=True)):
        x, y = point(1.22, k)
        mark = "" if axis["pass"] else " ✗"
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" dominant-baseline="middle" '
            f'font-size="12" fill="#333">{name}{mark}<title>{escape(axis["property"])} '
            f"{axis['value']} (range {axis['low']} to {axis['high']})</title></text>"
        )
    parts.append("</svg>")
    return "".join(parts)
