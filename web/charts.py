"""Geometry for the pages' SVG charts, computed here so templates only place shapes.

Charts are plain SVG in the page (no chart library, no inline style): coordinates are
attributes, colours come from CSS classes. Every chart also has a text alternative in
the page (the cards or a table), so the picture is never the only way to read the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from scoring import formulas

SCORE_MAX = 100.0


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    css: str
    title: str
    number: int = 0  # the touch point's number on the map's cards (0: none)


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class Chart:
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    lines: list[str] = field(default_factory=list)  # polyline "x,y x,y" segments
    target: str = ""  # polyline of the target reference
    dots: list[Dot] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    grid: list[Label] = field(default_factory=list)  # horizontal lines with their value
    x_labels: list[Label] = field(default_factory=list)
    separators: list[Label] = field(default_factory=list)  # vertical lines with a caption
    # The score line: where touch points with too few evaluations sit, apart from the axis.
    unscored_y: float = 0.0
    weakest_x: float | None = None  # the weakest point, kept in view when the line scrolls
    summary: str = ""  # the text alternative, in words

    @property
    def x_end(self) -> float:
        """Where the plotting area ends on the right."""
        return self.width - self.right

    @property
    def axis_label_x(self) -> float:
        """Where the value labels of the grid lines end, left of the plotting area."""
        return self.left - 6

    @property
    def y_base(self) -> float:
        """The bottom of the plotting area (score 0)."""
        return self.height - self.bottom

    def y_for(self, value: float) -> float:
        span = self.height - self.top - self.bottom
        return round(self.top + span * (1 - max(0.0, min(SCORE_MAX, value)) / SCORE_MAX), 1)


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Split a series at missing values, so a gap in the data is a gap in the line."""
    segments: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for x, y in points:
        if y is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append((x, y))
    if current:
        segments.append(current)
    return segments


def _polyline(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _score_grid(chart: Chart) -> None:
    chart.grid = [Label(chart.left, chart.y_for(v), f"{v:.0f}") for v in (0, 25, 50, 75, 100)]


@dataclass(frozen=True)
class LinePoint:
    """One touch point on the journey's score line."""

    name: str
    stage: str
    smoothed: float | None
    target: float
    status: str


def journey_line(points: Sequence[LinePoint]) -> Chart:
    """The score line along the whole journey: one numbered step per touch point in map
    order (the numbers match the cards), the target as a stepped reference line, stage
    boundaries as dashed verticals. Touch points with too few evaluations to call sit on a
    row of their own below the axis, never at 0, which would read as a zero score.

    Narrow steps keep a short journey inside a phone's width; a long one scrolls in its box,
    and `weakest_x` tells the page where to scroll so the weakest point is in view."""
    step = 40.0
    left, right = 36.0, 12.0
    width = max(320.0, left + right + step * max(len(points), 1))
    chart = Chart(width=width, height=172.0, left=left, right=right, top=22.0, bottom=36.0)
    _score_grid(chart)
    chart.unscored_y = round(chart.y_base + 22, 1)
    if not points:
        return chart
    inner = width - left - right
    xs = [round(left + inner * (i + 0.5) / len(points), 1) for i in range(len(points))]
    half = inner / len(points) / 2
    chart.lines = [
        _polyline([(x, chart.y_for(y)) for x, y in seg])
        for seg in _segments(
            [
                (x, p.smoothed if p.status != formulas.INSUFFICIENT_DATA else None)
                for x, p in zip(xs, points, strict=True)
            ]
        )
        if len(seg) > 1
    ]
    target: list[tuple[float, float]] = []
    for x, p in zip(xs, points, strict=True):
        y = chart.y_for(p.target)
        target += [(x - half, y), (x + half, y)]
    chart.target = _polyline(target)
    weakest: tuple[float, float] | None = None
    for number, (x, p) in enumerate(zip(xs, points, strict=True), start=1):
        scored = p.smoothed is not None and p.status != formulas.INSUFFICIENT_DATA
        if scored:
            shown = f"{p.smoothed:.1f} against a target of {p.target:.0f}"
            y = chart.y_for(p.smoothed)  # type: ignore[arg-type]
            gap = p.target - p.smoothed  # type: ignore[operator]
            if weakest is None or gap > weakest[0]:
                weakest = (gap, x)
        else:
            shown = "too few evaluations to call"
            y = chart.unscored_y
        chart.dots.append(
            Dot(x, y, p.status or "none", f"{number}. {p.name} ({p.stage}): {shown}", number)
        )
    chart.weakest_x = weakest[1] if weakest else None
    # Stage captions, each cut to the width of its stage (about 7 units a character).
    starts = [i for i, p in enumerate(points) if i == 0 or p.stage != points[i - 1].stage]
    for i, end in zip(starts, [*starts[1:], len(points)], strict=True):
        room = max(1, int((end - i) * 2 * half / 7) - 1)
        text = (
            points[i].stage if len(points[i].stage) <= room else points[i].stage[: room - 1] + "…"
        )
        chart.separators.append(Label(round(xs[i] - half, 1), chart.top - 10, text))
    scored_dots = [d for d, p in zip(chart.dots, points, strict=True) if d.y != chart.unscored_y]
    unscored = len(points) - len(scored_dots)
    chart.summary = f"{len(points)} touch points; " + (
        f"{unscored} with too few evaluations to call." if unscored else "all scored."
    )
    return chart


def sparkline(weeks: Sequence[formulas.WeekPoint], target: float | None) -> Chart:
    """A 12-week trend small enough for a card: the weekly mean as a line, the target dashed,
    the latest week as a dot; `summary` says the same in words."""
    chart = Chart(width=120.0, height=36.0, left=2.0, right=4.0, top=3.0, bottom=3.0)
    if not weeks:
        chart.summary = "No evaluations in the last 12 weeks."
        return chart
    inner = chart.width - chart.left - chart.right
    slot = inner / max(len(weeks) - 1, 1)
    xs = [round(chart.left + slot * i, 1) for i in range(len(weeks))]
    # Scaled to the weeks' own range (and the target), as sparklines are: a few points of
    # change must show on a card, where the whole 0-100 axis would flatten them.
    values = [w.mean for w in weeks if w.mean is not None] + ([target] if target else [])
    low = max(0.0, min(values, default=0.0) - 5)
    high = min(SCORE_MAX, max(values, default=SCORE_MAX) + 5)
    span = max(high - low, 1.0)

    def y_for(value: float) -> float:
        room = chart.height - chart.top - chart.bottom
        return round(chart.top + room * (1 - (value - low) / span), 1)

    chart.lines = [
        _polyline([(x, y_for(y)) for x, y in seg])
        for seg in _segments([(x, w.mean) for x, w in zip(xs, weeks, strict=True)])
        if len(seg) > 1
    ]
    measured = [(x, w) for x, w in zip(xs, weeks, strict=True) if w.mean is not None]
    if measured:
        x, last = measured[-1]
        chart.dots.append(Dot(x, y_for(last.mean), "line", ""))  # type: ignore[arg-type]
    if target is not None:
        y = y_for(target)
        chart.target = _polyline([(chart.left, y), (chart.x_end, y)])
    if len(measured) >= 2:
        first, latest = measured[0][1], measured[-1][1]
        chart.summary = (
            f"Weekly mean over 12 weeks: {first.mean:.0f} in the week of "
            f"{first.week_start:%-d %b}, {latest.mean:.0f} in the week of {latest.week_start:%-d %b}"
            f" ({sum(w.n for w in weeks)} evaluations)."
        )
    elif measured:
        only = measured[0][1]
        chart.summary = (
            f"Only one week with evaluations in 12 weeks: mean {only.mean:.0f} "
            f"in the week of {only.week_start:%-d %b}."
        )
    else:
        chart.summary = "No evaluations in the last 12 weeks."
    return chart


def against_target(score: float | None, target: float) -> str:
    """The status colour a score earns against a target (the bands of scoring.formulas),
    for a journey's score on its card: meets, at_risk, weak_link, or none without a score."""
    if score is None:
        return "none"
    if score >= target:
        return formulas.MEETS
    if score >= target - formulas.DEFAULT_AT_RISK_BAND:
        return formulas.AT_RISK
    return formulas.WEAK_LINK


@dataclass(frozen=True)
class WeekPoint:
    week_start: date
    n: int
    mean: float | None


def trend_chart(weeks: Sequence[WeekPoint], target: float | None) -> Chart:
    """Weekly mean score as a line over bars of how many evaluations each week had."""
    chart = Chart(width=640.0, height=240.0, left=48.0, right=12.0, top=12.0, bottom=40.0)
    _score_grid(chart)
    if not weeks:
        return chart
    inner = chart.width - chart.left - chart.right
    slot = inner / len(weeks)
    xs = [round(chart.left + slot * (i + 0.5), 1) for i in range(len(weeks))]
    most = max((w.n for w in weeks), default=0) or 1
    bar_room = (chart.height - chart.top - chart.bottom) * 0.3
    base = chart.height - chart.bottom
    for x, w in zip(xs, weeks, strict=True):
        height = round(bar_room * w.n / most, 1)
        chart.bars.append(
            Bar(
                round(x - slot * 0.3, 1),
                round(base - height, 1),
                round(slot * 0.6, 1),
                height,
                f"Week of {w.week_start:%d %b}: {w.n} evaluations",
            )
        )
    chart.lines = [
        _polyline([(x, chart.y_for(y)) for x, y in seg])
        for seg in _segments([(x, w.mean) for x, w in zip(xs, weeks, strict=True)])
        if len(seg) > 1
    ]
    for x, w in zip(xs, weeks, strict=True):
        if w.mean is not None:
            chart.dots.append(
                Dot(
                    x,
                    chart.y_for(w.mean),
                    "line",
                    f"Week of {w.week_start:%d %b}: mean {w.mean:.1f} from {w.n} evaluations",
                )
            )
    if target is not None:
        y = chart.y_for(target)
        chart.target = _polyline([(chart.left, y), (chart.width - chart.right, y)])
    for i, (x, w) in enumerate(zip(xs, weeks, strict=True)):
        if (len(weeks) - 1 - i) % 2 == 0 or len(weeks) <= 6:  # always label the latest week
            chart.x_labels.append(
                Label(x, chart.height - chart.bottom + 24, f"{w.week_start:%d %b}")
            )
    return chart
