"""Inline SVG charts with confidence intervals; no scripts, no external files.

Every label is escaped: run names and task names come from users and plugins.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Sequence

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[Point, ...]


def bar_chart(title: str, bars: Sequence[Bar], unit: str = "", width: int = 640) -> str:
    """Horizontal bars (one per run) with 95% interval whiskers; the axis starts at zero."""
    label_width, row, top, bottom = 230, 24, 28, 26
    plot_width = width - label_width - 70
    values = [v for bar in bars for v in (bar.value, bar.high) if v is not None and math.isfinite(v)]
    limit = _nice_ceiling(max(values, default=1.0)) or 1.0
    height = top + row * len(bars) + bottom

    def x(value: float) -> float:
        return label_width + plot_width * max(0.0, value) / limit

    parts = [_svg_open(width, height, title), f'<text x="4" y="16" class="title">{_e(title)}</text>']
    for tick in _ticks(0.0, limit):
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{height - bottom + 4}" class="grid"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{height - 8}" class="tick" text-anchor="middle">{_format(tick)}</text>')
    for index, bar in enumerate(bars):
        y = top + index * row
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<text x="{label_width - 6}" y="{y + row * 0.65:.1f}" text-anchor="end" class="label">{_e(_short(bar.label, 34))}</text>')
        if bar.value is None or not math.isfinite(bar.value):
            parts.append(f'<text x="{label_width + 4}" y="{y + row * 0.65:.1f}" class="tick">n/a</text>')
            continue
        parts.append(
            f'<rect x="{label_width}" y="{y + 4}" width="{x(bar.value) - label_width:.1f}" height="{row - 8}" fill="{colour}">'
            f"<title>{_e(bar.label)}: {_format(bar.value)}{_e(unit)}</title></rect>"
        )
        if bar.low is not None and bar.high is not None and math.isfinite(bar.low) and math.isfinite(bar.high):
            mid = y + row / 2
            parts.append(
                f'<path d="M{x(bar.low):.1f},{mid:.1f}H{x(bar.high):.1f}M{x(bar.low):.1f},{mid - 5:.1f}V{mid + 5:.1f}'
                f'M{x(bar.high):.1f},{mid - 5:.1f}V{mid + 5:.1f}" class="whisker"/>'
            )
        parts.append(f'<text x="{x(max(bar.value, bar.high or bar.value)) + 6:.1f}" y="{y + row * 0.65:.1f}" class="value">{_format(bar.value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, series: Sequence[Series], x_label: str = "step", y_label: str = "",
               width: int = 640, height: int = 300) -> str:
    """Lines over ``x`` with a shaded 95% band; one colour per series, legend below."""
    left, right, top, bottom = 56, 16, 28, 48 + 16 * len(series)
    points = [p for s in series for p in s.points]
    xs = [p.x for p in points] or [0.0, 1.0]
    ys = [v for p in points for v in (p.y, p.low, p.high) if v is not None and math.isfinite(v)] or [0.0, 1.0]
    x_min, x_max = min(xs), max(xs)
    if x_min == x_max:
        x_min, x_max = x_min - 1, x_max + 1
    y_min, y_max = min(0.0, min(ys)), _nice_ceiling(max(ys)) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(value: float) -> float:
        return left + plot_w * (value - x_min) / (x_max - x_min)

    def py(value: float) -> float:
        return top + plot_h * (1 - (value - y_min) / (y_max - y_min or 1.0))

    parts = [_svg_open(width, height, title), f'<text x="4" y="16" class="title">{_e(title)}</text>']
    for tick in _ticks(y_min, y_max):
        parts.append(f'<line x1="{left}" y1="{py(tick):.1f}" x2="{width - right}" y2="{py(tick):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{py(tick) + 4:.1f}" class="tick" text-anchor="end">{_format(tick)}</text>')
    for tick in sorted({p.x for p in points}):
        parts.append(f'<text x="{px(tick):.1f}" y="{top + plot_h + 16:.1f}" class="tick" text-anchor="middle">{_e(_step_label(tick))}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 32:.1f}" class="tick" text-anchor="middle">{_e(x_label)}</text>')
    if y_label:
        parts.append(f'<text x="12" y="{top + plot_h / 2:.1f}" class="tick" transform="rotate(-90 12 {top + plot_h / 2:.1f})" text-anchor="middle">{_e(y_label)}</text>')
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        ordered = sorted(line.points, key=lambda p: p.x)
        banded = [(p.x, p.low, p.high) for p in ordered if p.low is not None and p.high is not None]
        if len(banded) >= 2:
            outline = [f"{px(x):.1f},{py(high):.1f}" for x, _, high in banded] + [f"{px(x):.1f},{py(low):.1f}" for x, low, _ in reversed(banded)]
            parts.append(f'<polygon points="{" ".join(outline)}" fill="{colour}" fill-opacity="0.18" stroke="none"/>')
        if len(ordered) >= 2:
            path = " ".join(f"{px(p.x):.1f},{py(p.y):.1f}" for p in ordered)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in ordered:
            parts.append(f'<circle cx="{px(p.x):.1f}" cy="{py(p.y):.1f}" r="3.5" fill="{colour}"><title>{_e(line.label)} @ {_e(_step_label(p.x))}: {_format(p.y)}</title></circle>')
        legend_y = height - 12 - 16 * (len(series) - 1 - index)
        parts.append(f'<rect x="{left}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{left + 16}" y="{legend_y}" class="label">{_e(line.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">')


def _nice_ceiling(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 0.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / count for i in range(count + 1)]


def _format(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _step_label(step: float) -> str:
    if step >= 1000 and step % 1000 == 0:
        return f"{step / 1000:g}k"
    return f"{step:g}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
