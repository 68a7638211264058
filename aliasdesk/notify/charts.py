"""The charts of the weekly report, drawn as PNG images to travel inside the mail.

Mail clients block remote images and strip scripts, so a chart is a picture attached to
the mail itself and shown by ``cid:`` (RFC 2392). Drawn with matplotlib's Agg canvas on
a ``Figure`` of its own (never pyplot's global state), so workers drawing at once in
threads share nothing. Every chart is small (600x240 pixels, a few KB) and says in its
title what it shows; the numbers are in the mail's text too, so a reader who sees no
picture misses nothing. The dashboard shows the same charts, and on a phone asks for
them ``NARROW`` (320x260 pixels), so the labels stay legible instead of shrinking.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from itertools import pairwise

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from aliasdesk.notify.language import _

WIDE = (6.0, 2.4)
"""Inches at 100 dpi: the mail's 600 pixels, its usual column."""
NARROW = (3.2, 2.6)
"""A phone's column (320 pixels) at the same font sizes."""
_DPI = 100
_THIS_WEEK = "#2f4f6f"
_LAST_WEEK = "#b3bac5"
_MET = "#36b37e"
_LATE = "#f5a623"


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    for axes in figure.axes:
        # Counts start at nought and rise at least to one, or a chart of nothing but
        # zeros (a quiet week) would draw an axis from -0.05 to 0.05.
        axes.set_ylim(0, max(axes.get_ylim()[1], 1))
        _turn_crowded_labels(axes)
    out = BytesIO()
    # No software name in the file: the same figures always draw the same bytes.
    figure.savefig(out, format="png", dpi=_DPI, metadata={"Software": None})
    return out.getvalue()


def _turn_crowded_labels(axes: Axes) -> None:
    """Turn the labels under the bars when two would touch (a narrow chart), so each
    stays readable instead of running into the next."""
    labels = axes.get_xticklabels()
    boxes = [label.get_window_extent() for label in labels]
    if any(left.x1 + 4 > right.x0 for left, right in pairwise(boxes)):
        for label in labels:
            label.set_rotation(25)
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")


def _frame(title: str, size: tuple[float, float]) -> tuple[Figure, Axes]:
    figure = Figure(figsize=size, dpi=_DPI, layout="tight")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=10, loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(labelsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure, axes


def _paired_bars(
    axes: Axes,
    labels: Sequence[str],
    first: tuple[str, Sequence[float], str | Sequence[str]],
    second: tuple[str, Sequence[float], str | Sequence[str]],
) -> None:
    positions = list(range(len(labels)))
    for (name, values, colour), shift in ((first, -0.2), (second, 0.2)):
        axes.bar([p + shift for p in positions], values, 0.4, label=name, color=colour)
    axes.set_xticks(positions, list(labels))
    axes.legend(fontsize=8, frameon=False)


def tickets_per_day(
    days: Sequence[str],
    came_in: Sequence[int],
    resolved: Sequence[int],
    size: tuple[float, float] = WIDE,
) -> bytes:
    """Per day of the week: tickets that came in, tickets resolved."""
    figure, axes = _frame(_("Tickets per day: in and resolved"), size)
    _paired_bars(axes, days, (_("in"), came_in, _THIS_WEEK), (_("resolved"), resolved, _MET))
    return _png(figure)


def first_responses(
    buckets: Sequence[str],
    counts: Sequence[int],
    late_from: int,
    size: tuple[float, float] = WIDE,
) -> bytes:
    """How many first responses fell in each share of their target; bars from index
    ``late_from`` on missed it and are drawn in the warning colour."""
    figure, axes = _frame(_("First responses against their target"), size)
    colours = [_MET if n < late_from else _LATE for n in range(len(buckets))]
    axes.bar(list(range(len(buckets))), counts, 0.6, color=colours)
    axes.set_xticks(list(range(len(buckets))), list(buckets))
    if 0 < late_from < len(buckets):
        axes.axvline(late_from - 0.5, color="#6b778c", linestyle="--", linewidth=1)
        axes.text(late_from - 0.45, max([*counts, 1]), _("target"), fontsize=8, va="top")
    return _png(figure)


def satisfaction(
    this_week: Sequence[int], last_week: Sequence[int], size: tuple[float, float] = WIDE
) -> bytes:
    """How many ratings of 1 to 5, this week beside last week."""
    figure, axes = _frame(_("Satisfaction: ratings 1 to 5"), size)
    labels = [str(n) for n in range(1, len(this_week) + 1)]
    before, now = (_("week before"), last_week, _LAST_WEEK), (_("this week"), this_week, _THIS_WEEK)
    _paired_bars(axes, labels, before, now)
    return _png(figure)
