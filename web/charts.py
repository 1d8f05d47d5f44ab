"""Geometry for the pages' SVG charts, computed here so templates only place shapes.

Charts are plain SVG in the page (no chart library, no inline style): coordinates are
attributes, colours come from CSS classes. Every chart also has a text alternative in
the page (the cards or a table), so the picture is never the only way to read the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

SCORE_MAX = 100.0


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    css: str
    title: str


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
    """The score line along the whole journey: one step per touch point, in map order,
    the target drawn as a stepped reference line, stage boundaries as dashed verticals."""
    step = 56.0
    left, right = 36.0, 16.0
    width = max(960.0, left + right + step * max(len(points), 1))
    chart = Chart(width=width, height=220.0, left=left, right=right, top=28.0, bottom=16.0)
    _score_grid(chart)
    if not points:
        return chart
    inner = width - left - right
    xs = [round(left + inner * (i + 0.5) / len(points), 1) for i in range(len(points))]
    half = inner / len(points) / 2
    chart.lines = [
        _polyline([(x, chart.y_for(y)) for x, y in seg])
        for seg in _segments([(x, p.smoothed) for x, p in zip(xs, points, strict=True)])
        if len(seg) > 1
    ]
    target: list[tuple[float, float]] = []
    for x, p in zip(xs, points, strict=True):
        y = chart.y_for(p.target)
        target += [(x - half, y), (x + half, y)]
    chart.target = _polyline(target)
    for x, p in zip(xs, points, strict=True):
        value = p.smoothed if p.smoothed is not None else 0.0
        shown = f"{p.smoothed:.1f}" if p.smoothed is not None else "no score"
        chart.dots.append(
            Dot(
                x,
                chart.y_for(value),
                p.status or "none",
                f"{p.name} ({p.stage}): {shown}, target {p.target:.0f}",
            )
        )
    previous = None
    for x, p in zip(xs, points, strict=True):
        if p.stage != previous:
            chart.separators.append(Label(round(x - half, 1), chart.top - 10, p.stage))
            previous = p.stage
    return chart


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


@dataclass(frozen=True)
class Interval:
    """One side of a before/after comparison: mean and its 95 % interval, from n."""

    label: str
    n: int
    mean: float | None
    low: float | None
    high: float | None


@dataclass
class Whisker:
    x: float
    y_mean: float
    y_low: float | None
    y_high: float | None
    title: str
    css: str


@dataclass
class BeforeAfter:
    chart: Chart
    whiskers: list[Whisker]
    baseline: str  # polyline of the baseline mean across the plot
    labels: list[Label]


def before_after_chart(before: Interval, after: Interval, *, target: float | None) -> BeforeAfter:
    """The baseline's mean and 95 % interval beside the evidence's, a dashed line at the
    baseline mean across both, and the target: verified means the right-hand interval's
    lower end clears that line."""
    chart = Chart(width=360.0, height=240.0, left=40.0, right=12.0, top=16.0, bottom=44.0)
    _score_grid(chart)
    inner = chart.width - chart.left - chart.right
    xs = (round(chart.left + inner * 0.3, 1), round(chart.left + inner * 0.7, 1))
    whiskers: list[Whisker] = []
    labels: list[Label] = []
    for x, side, css in ((xs[0], before, "before"), (xs[1], after, "after")):
        labels.append(Label(x, chart.height - chart.bottom + 18, side.label))
        labels.append(Label(x, chart.height - chart.bottom + 34, f"n = {side.n}"))
        if side.mean is None:
            continue
        interval = (
            f", 95% interval {side.low:.1f}–{side.high:.1f}"
            if side.low is not None and side.high is not None
            else ""
        )
        whiskers.append(
            Whisker(
                x=x,
                y_mean=chart.y_for(side.mean),
                y_low=chart.y_for(side.low) if side.low is not None else None,
                y_high=chart.y_for(side.high) if side.high is not None else None,
                title=f"{side.label}: mean {side.mean:.1f} from {side.n} evaluations{interval}",
                css=css,
            )
        )
    baseline = ""
    if before.mean is not None:
        y = chart.y_for(before.mean)
        baseline = _polyline([(chart.left, y), (chart.x_end, y)])
    if target is not None:
        y = chart.y_for(target)
        chart.target = _polyline([(chart.left, y), (chart.x_end, y)])
    return BeforeAfter(chart=chart, whiskers=whiskers, baseline=baseline, labels=labels)
