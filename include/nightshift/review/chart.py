"""The week-over-week trend as an inline SVG drawn on the server: no JavaScript, no external resource.

Bars are the completion rate, the line is the average quality score (both on a 0–100 axis); dashed
lines mark the targets (completion > 80 %, score > 85). Every text is escaped; styling uses classes
only (the review page's Content-Security-Policy forbids inline style attributes).
"""

from __future__ import annotations

from html import escape

from nightshift.review.metrics import TARGETS, WeekTrend

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 16, 48


def _y(value: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - max(0.0, min(100.0, value)) / 100)


def trend_svg(weeks: list[WeekTrend]) -> str:
    plot_w = WIDTH - LEFT - RIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="trend-title">',
        '<title id="trend-title">Week-over-week completion rate (bars) '
        "and average quality score (line)</title>",
    ]
    for tick in (0, 25, 50, 75, 100):
        y = _y(tick)
        out.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    if not weeks:
        out.append(
            f'<text class="empty" x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle">'
            "no metrics yet</text>"
        )
        out.append("</svg>")
        return "\n".join(out)
    step = plot_w / len(weeks)
    bar = min(48.0, step * 0.6)
    points = []
    for n, week in enumerate(weeks):
        cx = LEFT + step * (n + 0.5)
        if week.completion_rate is not None:
            y = _y(week.completion_rate)
            out.append(
                f'<rect class="bar" x="{cx - bar / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{_y(0) - y:.1f}"><title>{escape(week.week)}: '
                f"{week.completion_rate:.0f}% completion</title></rect>"
            )
        if week.average_score is not None:
            points.append((cx, _y(week.average_score), week))
        out.append(
            f'<text class="axis" x="{cx:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{escape(week.week)}</text>"
        )
        out.append(
            f'<text class="axis small" x="{cx:.1f}" y="{HEIGHT - BOTTOM + 30}" text-anchor="middle">'
            f"{week.tickets} tickets</text>"
        )
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        out.append(f'<polyline class="score" points="{path}"/>')
        for x, y, week in points:
            out.append(
                f'<circle class="score-dot" cx="{x:.1f}" cy="{y:.1f}" r="4">'
                f"<title>{escape(week.week)}: average score {week.average_score:.0f}</title></circle>"
            )
    for key, css in (("completion_rate", "target-completion"), ("average_score", "target-score")):
        y = _y(TARGETS[key][0])
        out.append(f'<line class="{css}" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
    out.append("</svg>")
    return "\n".join(out)
