"""Charts for the reports, and numbers for people.

Each chart function takes plain names and numbers (it knows no dataset) and returns one
`<svg>` element to put into an HTML page as it is: no XML prolog, a viewBox with a width and
height in points (a fixed, readable size that shrinks on a narrow page), a <title> and an
aria-label for screen readers. matplotlib draws it, on the Agg backend (no display), through
its SVG writer; text stays text (no font is embedded or fetched: the browser's sans-serif
draws it), so a page works offline and as an HTML artifact in the KFP and Vertex AI UIs. The
output is deterministic: the same data gives the same bytes. The drawn data (bars, lines,
point sets, matrix cells) are groups of class "mark", threshold lines of class "threshold",
which is what tests and browsers count.

`human(value, unit)` writes a number as people read it: 4.8 s, 0.948, 15,002, 562 MB, 1.2e-05.

matplotlib is imported on the first chart, not with this module: `human` stays cheap."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from numbers import Number

# Series colours, in order: train, eval, reference, serving (or candidate, baseline).
PALETTE = ("#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
STATE_COLOURS = {"ok": "#4c9a2a", "cached": "#a6c8e0", "failed": "#c0392b", "other": "#999999"}
WIDTH = 7.0  # inches; at SVG's 72 points per inch, 504 pt (672 px)
HEIGHT = 3.0
_RC = {
    "svg.fonttype": "none",  # <text>, not glyph outlines: small, and nothing to embed
    "svg.hashsalt": "mlops-charts",  # ids from content, not random: reproducible pages
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # matplotlib's own font; each <text> names the list
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
}
# Marks for counting; matplotlib writes an artist's gid as its group's id, made a class here.
MARK, THRESHOLD = "mark", "threshold"
_CLASSES = (MARK, THRESHOLD)
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_LABEL_CHARS = 28


# --- numbers -------------------------------------------------------------------------------


def human(value, unit: str | None = None, *, signed: bool = False) -> str:
    """A number as people read it, three significant digits at most:

        human(4.8123, "s") -> "4.8 s"     human(0.94812) -> "0.948"   human(15002) -> "15,002"
        human(589_299_712, "B") -> "562 MB"   human(0.0000123) -> "1.2e-05"
        human(0.234, "%") -> "23.4%"   human(0.012, signed=True) -> "+0.012"
        human(None) -> "–"   human(float("nan")) -> "n/a"

    unit: "s" seconds (then minutes and hours), "B" bytes (KB, MB, GB in powers of 1024),
    "%" a fraction shown as a percentage, any other text is appended ("15,002 rows").
    A value that is not a number is returned as its text."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, Number):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return ("+" if signed and v > 0 else "") + ("∞" if v > 0 else "-∞")
    sign = "+" if signed and v > 0 else ""
    if unit == "s":
        return sign + _duration(v)
    if unit == "B":
        return sign + _bytes(v)
    if unit == "%":
        return sign + _number(v * 100) + "%"
    text = sign + (_integer(value) if _is_int(value) else _number(v))
    return f"{text} {unit}" if unit else text


def _is_int(value) -> bool:
    return isinstance(value, int) or (hasattr(value, "is_integer") and value.is_integer())


def _integer(value) -> str:
    v = float(value)
    return f"{int(v):,}" if abs(v) < 1e15 else f"{v:.3g}"


def _number(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if v.is_integer() and a < 1e15:
        return f"{int(v):,}"
    if a >= 1e15:
        return f"{v:.3g}"
    if a >= 1000:
        return f"{v:,.0f}"
    if a < 1e-3:
        return f"{v:.2g}"
    digits = 3
    text = f"{v:.{digits}g}"
    # A fraction never reads as a whole number (0.9996 is not 1): more digits instead.
    while a < 1 and float(text) in (-1.0, 0.0, 1.0) and digits < 4:
        digits += 1
        text = f"{v:.{digits}g}"
    return text


def _duration(seconds: float) -> str:
    negative, s = seconds < 0, abs(seconds)
    if s < 1:
        text = f"{_number(float(f'{s:.2g}'))} s"
    elif s < 10:
        text = f"{s:.1f}".rstrip("0").rstrip(".") + " s"
    elif s < 59.5:
        text = f"{s:.0f} s"
    elif s < 3600:
        minutes, rest = divmod(round(s), 60)
        text = f"{minutes} min" + (f" {rest} s" if rest else "")
    else:
        hours, rest = divmod(round(s / 60), 60)
        text = f"{hours} h" + (f" {rest} min" if rest else "")
    return ("-" if negative else "") + text


def _bytes(count: float) -> str:
    size, unit = abs(count), "B"
    for bigger in ("KB", "MB", "GB", "TB", "PB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return ("-" if count < 0 else "") + f"{_number(float(f'{size:.3g}'))} {unit}"


# --- the figure and its SVG ----------------------------------------------------------------


def _matplotlib():
    """matplotlib on the Agg backend, set before anything imports pyplot."""
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


def _figure(height: float = HEIGHT, width: float = WIDTH):
    from matplotlib.figure import Figure

    # constrained: the labels fit inside the figure, which keeps its size
    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig, title: str) -> str:
    """The figure as an inline <svg> element with a <title>."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata=_NO_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # Ids of groups are numbered per figure (figure_1, patch_3): several charts on a page
    # would repeat them. Nothing refers to them; the marks' become classes.
    text = re.sub(
        r'<g id="([^"]*)">',
        lambda m: f'<g class="{m.group(1)}">' if m.group(1) in _CLASSES else "<g>",
        text,
    )
    label = escape(title, quote=True)
    opening_end = text.index(">") + 1
    opening = text[:opening_end].replace(
        "<svg ",
        f'<svg role="img" aria-label="{label}" class="chart" '
        'style="max-width: 100%; height: auto" ',
        1,
    )
    return f"{opening}\n <title>{escape(title)}</title>{text[opening_end:]}".rstrip() + "\n"


def _chart(draw, title: str, height: float = HEIGHT, width: float = WIDTH) -> str:
    """Runs draw(fig) under the charts' style and returns the SVG."""
    matplotlib = _matplotlib()
    with matplotlib.rc_context(_RC):
        fig = _figure(height, width)
        draw(fig)
        return _svg(fig, title)


def _title(ax, title: str) -> None:
    """The title over the axes, wrapped to the figure's width."""
    import textwrap

    chars = max(20, int(ax.figure.get_figwidth() * 13))
    ax.set_title(textwrap.fill(title, chars))


def _mark(*artists) -> None:
    for artist in artists:
        for a in artist if isinstance(artist, list | tuple) else [artist]:
            a.set_gid(MARK)


def _human_axis(axis, unit: str | None = None) -> None:
    """Tick labels for people: as many decimals as the tick step needs (0.6272, 0.6274; not
    0.627 twice), thousands separated; durations as human() writes them."""
    from matplotlib.ticker import Formatter

    class Ticks(Formatter):
        decimals = 0

        def set_locs(self, locs):
            super().set_locs(locs)
            steps = [abs(b - a) for a, b in zip(locs, locs[1:], strict=False) if b != a]
            step = min(steps, default=1.0) * (100 if unit == "%" else 1)
            self.decimals = min(6, max(0, -math.floor(math.log10(step) + 1e-9))) if step else 0

        def __call__(self, x, pos=None):
            if unit == "s":
                return human(x, "s")
            if unit == "%":
                return f"{x * 100:,.{self.decimals}f}%"
            return f"{x:,.{self.decimals}f}".replace("-", "\u2212")

    axis.set_major_formatter(Ticks())


def _short(label: str) -> str:
    label = str(label)
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"


def _no_data(ax, message: str = "no values") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#777")
    ax.set_xticks([])
    ax.set_yticks([])


def _finite(value) -> bool:
    return value is not None and isinstance(value, Number) and math.isfinite(float(value))


def _legend(ax, count: int, outside: bool = False) -> None:
    if count > 1 or (outside and count):
        if outside:  # beside the axes: bars reach any part of them
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        else:
            ax.legend(loc="best")


# --- data: distributions -------------------------------------------------------------------

Bucket = tuple[float, float, float]  # (low, high, count)


def _rebin(buckets: Sequence[Bucket], edges) -> list[float]:
    """Counts of buckets spread over new edges by overlap (uniform within a bucket): series
    whose buckets differ become comparable."""
    n = len(edges) - 1
    out = [0.0] * n
    for low, high, count in buckets:
        if count <= 0 or not (math.isfinite(low) and math.isfinite(high)):
            continue
        if high <= low:  # one value
            i = max(0, min(n - 1, _bisect(edges, low)))
            out[i] += count
            continue
        for i in range(n):
            overlap = min(edges[i + 1], high) - max(edges[i], low)
            if overlap > 0:
                out[i] += count * overlap / (high - low)
    return out


def _bisect(edges, value: float) -> int:
    for i in range(len(edges) - 1):
        if value < edges[i + 1]:
            return i
    return len(edges) - 2


def histograms(
    title: str, series: Mapping[str, Sequence[Bucket]], *, x_label: str | None = None
) -> str:
    """Histograms side by side, one bar colour per series (train, eval, the drift
    reference...): the buckets (low, high, count) of each series, spread over common edges,
    each bar the share of that series' values (so series of any size compare)."""
    present = {name: [b for b in buckets if b[2] > 0] for name, buckets in series.items()}
    present = {name: b for name, b in present.items() if b}
    bounds = [x for buckets in present.values() for b in buckets for x in b[:2]]
    bounds = [x for x in bounds if math.isfinite(x)]

    def draw(fig):
        ax = fig.add_subplot()
        _title(ax, title)
        if not bounds:
            _no_data(ax)
            return
        low, high = min(bounds), max(bounds)
        if high <= low:
            low, high = low - 0.5, high + 0.5
        bins = max(5, min(20, max(len(b) for b in present.values())))
        edges = [low + (high - low) * i / bins for i in range(bins + 1)]
        width = (high - low) / bins
        k = len(present)
        for j, (name, buckets) in enumerate(present.items()):
            counts = _rebin(buckets, edges)
            total = sum(counts) or 1.0
            left = [edges[i] + width * (0.1 + 0.8 * j / k) for i in range(bins)]
            bars = ax.bar(
                left,
                [c / total for c in counts],
                width=width * 0.8 / k,
                align="edge",
                color=PALETTE[j % len(PALETTE)],
                label=name,
            )
            _mark(list(bars))
        ax.set_ylabel("share of values")
        if x_label:
            ax.set_xlabel(x_label)
        _human_axis(ax.yaxis, "%")
        _human_axis(ax.xaxis)
        _legend(ax, k)

    return _chart(draw, title)


def top_values(title: str, series: Mapping[str, Mapping[str, float]], *, limit: int = 10) -> str:
    """A categorical feature's commonest values as horizontal bars, one colour per series:
    series {name: {value: share of rows (0..1)}}; the values are the first series' top ones,
    then the others' not among them, `limit` in all."""
    order: list[str] = []
    for shares in series.values():
        for value, _ in sorted(shares.items(), key=lambda kv: -kv[1]):
            if value not in order and len(order) < limit:
                order.append(value)
    k = max(1, len(series))
    height = max(2.2, 0.9 + len(order) * (0.16 + 0.09 * k))

    def draw(fig):
        ax = fig.add_subplot()
        _title(ax, title)
        if not order:
            _no_data(ax)
            return
        band = 0.8 / k
        for j, (name, shares) in enumerate(series.items()):
            positions = [i + 0.1 + band * j for i in range(len(order))]
            bars = ax.barh(
                positions,
                [shares.get(v, 0.0) for v in order],
                height=band,
                align="edge",
                color=PALETTE[j % len(PALETTE)],
                label=name,
            )
            _mark(list(bars))
        ax.set_yticks([i + 0.5 for i in range(len(order))], [_short(v) for v in order])
        ax.invert_yaxis()
        ax.set_xlabel("share of rows")
        _human_axis(ax.xaxis, "%")
        _legend(ax, len(series))

    return _chart(draw, title, height)


# --- training ------------------------------------------------------------------------------


def epochs(title: str, series: Mapping[str, Sequence[float]], *, y_label: str = "") -> str:
    """A metric per epoch as lines, one per series (train, eval), epochs counted from 1."""

    def draw(fig):
        from matplotlib.ticker import MaxNLocator

        ax = fig.add_subplot()
        _title(ax, title)
        drawn = 0
        for j, (name, values) in enumerate(series.items()):
            points = [(i + 1, v) for i, v in enumerate(values) if _finite(v)]
            if not points:
                continue
            (line,) = ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o",
                markersize=3,
                color=PALETTE[j % len(PALETTE)],
                label=name,
            )
            _mark(line)
            drawn += 1
        if not drawn:
            _no_data(ax)
            return
        ax.set_xlabel("epoch")
        ax.set_ylabel(y_label)
        last = max(len(values) for values in series.values())
        if last <= 20:
            ax.set_xticks(range(1, last + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, last + 0.5)  # one epoch is one tick, not a range around it
        _human_axis(ax.yaxis)
        _legend(ax, drawn)

    return _chart(draw, title)


# --- evaluation ----------------------------------------------------------------------------


def slice_bars(
    title: str,
    slices: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    thresholds: Sequence[tuple[str, float]] = (),
    *,
    x_label: str = "",
) -> str:
    """A metric per slice as horizontal bars, one colour per series (candidate, baseline),
    with each threshold (label, value) drawn as a dashed vertical line. A missing or NaN
    value has no bar."""
    k = max(1, len(series))
    height = max(2.2, 1.0 + len(slices) * (0.1 + 0.07 * k))
    labelled = len(slices) <= 12

    def draw(fig):
        ax = fig.add_subplot()
        _title(ax, title)
        if not slices:
            _no_data(ax)
            return
        band = 0.8 / k
        for j, (name, values) in enumerate(series.items()):
            kept = [(i, float(v)) for i, v in enumerate(values) if _finite(v)]
            bars = ax.barh(
                [i + 0.1 + band * j for i, _ in kept],
                [v for _, v in kept],
                height=band,
                align="edge",
                color=PALETTE[j % len(PALETTE)],
                label=name,
            )
            _mark(list(bars))
            if labelled:
                for (_, v), bar in zip(kept, bars, strict=True):
                    ax.annotate(
                        human(v),
                        (v, bar.get_y() + band / 2),
                        xytext=(3, 0),
                        textcoords="offset points",
                        va="center",
                        fontsize=7,
                    )
        for j, (label, value) in enumerate(thresholds):
            line = ax.axvline(
                value, color=("#c0392b", "#8e44ad", "#d35400")[j % 3], linestyle="--",
                linewidth=1.2, label=f"{label}: {human(value)}",
            )  # fmt: skip
            line.set_gid(THRESHOLD)
        ax.set_yticks([i + 0.5 for i in range(len(slices))], [_short(s) for s in slices])
        ax.invert_yaxis()
        ax.set_xlabel(x_label)
        _human_axis(ax.xaxis)
        ax.margins(x=0.12)
        _legend(ax, len(series) + len(thresholds), outside=True)

    return _chart(draw, title, height)


def confusion_matrix(
    title: str,
    actual: Sequence[str],
    predicted: Sequence[str],
    counts: Sequence[Sequence[float]],
) -> str:
    """A heatmap of counts[row][column] (rows: actual class, columns: predicted class), each
    cell its count and its share of the row, coloured by that share."""
    rows, columns = len(actual), len(predicted)
    size = max(2.6, min(8.0, 1.6 + 0.45 * max(rows, columns)))

    def draw(fig):
        from matplotlib import colormaps
        from matplotlib.patches import Rectangle

        ax = fig.add_subplot()
        _title(ax, title)
        if not rows or not columns:
            _no_data(ax)
            return
        blues = colormaps["Blues"]
        for r, row in enumerate(counts):
            total = sum(row) or 1.0
            for c, count in enumerate(row):
                share = count / total
                cell = Rectangle((c, r), 1, 1, facecolor=blues(0.08 + 0.85 * share), edgecolor="w")
                ax.add_patch(cell)
                _mark(cell)
                ax.text(
                    c + 0.5, r + 0.5, f"{human(count)}\n{human(share, '%')}",
                    ha="center", va="center", fontsize=7 if max(rows, columns) > 6 else 8,
                    color="white" if share > 0.55 else "#222",
                )  # fmt: skip
        ax.set_xlim(0, columns)
        ax.set_ylim(rows, 0)
        ax.set_xticks([c + 0.5 for c in range(columns)], [_short(p) for p in predicted])
        ax.set_yticks([r + 0.5 for r in range(rows)], [_short(a) for a in actual])
        if columns > 4 or max(len(str(p)) for p in predicted) > 8:
            for label in ax.get_xticklabels():
                label.set_rotation(30)
                label.set_horizontalalignment("right")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("actual class")
        ax.spines[:].set_visible(False)
        ax.tick_params(length=0)

    return _chart(draw, title, size, size + 1.2)


def _curves(
    title: str,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    x_label: str,
    y_label: str,
    diagonal: bool,
) -> str:
    def draw(fig):
        ax = fig.add_subplot()
        _title(ax, title)
        if diagonal:
            ax.plot([0, 1], [0, 1], color="#bbb", linestyle=":", linewidth=1, label="chance")
        drawn = 0
        for j, (name, (xs, ys)) in enumerate(curves.items()):
            points = [(x, y) for x, y in zip(xs, ys, strict=True) if _finite(x) and _finite(y)]
            if not points:
                continue
            (line,) = ax.plot(
                [p[0] for p in points], [p[1] for p in points],
                color=PALETTE[j % len(PALETTE)], linewidth=1.5, label=name,
            )  # fmt: skip
            _mark(line)
            drawn += 1
        if not drawn:
            _no_data(ax)
            return
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_aspect("equal")
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.legend(loc="lower right" if diagonal else "lower left")

    return _chart(draw, title, 3.8, 4.6)


def roc_curves(title: str, curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> str:
    """ROC curves: {name: (false positive rates, true positive rates)}, beside chance."""
    return _curves(title, curves, "false positive rate", "true positive rate", diagonal=True)


def precision_recall_curves(
    title: str, curves: Mapping[str, tuple[Sequence[float], Sequence[float]]]
) -> str:
    """Precision-recall curves: {name: (recalls, precisions)}."""
    return _curves(title, curves, "recall", "precision", diagonal=False)


def predicted_vs_actual(title: str, actual: Sequence[float], predicted: Sequence[float]) -> str:
    """Each example a point (actual, predicted), beside the line of perfect predictions."""
    points = [
        (float(a), float(p))
        for a, p in zip(actual, predicted, strict=True)
        if _finite(a) and _finite(p)
    ]

    def draw(fig):
        ax = fig.add_subplot()
        _title(ax, title)
        if not points:
            _no_data(ax)
            return
        values = [v for p in points for v in p]
        low, high = min(values), max(values)
        pad = (high - low) * 0.05 or 0.5
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="#bbb", linestyle=":",
                linewidth=1, label="predicted = actual")  # fmt: skip
        dots = ax.scatter(
            [p[0] for p in points], [p[1] for p in points], s=9, alpha=0.5,
            color=PALETTE[0], linewidths=0, label=f"{human(len(points))} examples",
        )  # fmt: skip
        _mark(dots)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
        ax.set_aspect("equal")
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
        _human_axis(ax.xaxis)
        _human_axis(ax.yaxis)
        ax.legend(loc="upper left")

    return _chart(draw, title, 4.2, 5.0)


def residuals(title: str, values: Sequence[float], *, bins: int = 30) -> str:
    """A histogram of residuals (predicted - actual), with the zero line."""
    finite = [float(v) for v in values if _finite(v)]

    def draw(fig):
        ax = fig.add_subplot()
        _title(ax, title)
        if not finite:
            _no_data(ax)
            return
        _, _, bars = ax.hist(finite, bins=bins, color=PALETTE[0], edgecolor="white")
        _mark(list(bars))
        zero = ax.axvline(0, color="#c0392b", linestyle="--", linewidth=1.2, label="no error")
        zero.set_gid(THRESHOLD)
        ax.set_xlabel("predicted - actual")
        ax.set_ylabel("examples")
        _human_axis(ax.xaxis)
        _human_axis(ax.yaxis)
        ax.legend(loc="upper right")

    return _chart(draw, title)


# --- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """One bar of a timeline: seconds from the start, and a state of STATE_COLOURS."""

    label: str
    start: float
    end: float
    state: str = "ok"


def timeline(title: str, spans: Sequence[Span]) -> str:
    """Steps as horizontal bars over time (a Gantt chart), coloured by state, each with its
    duration."""
    height = max(1.8, 0.9 + 0.32 * len(spans))

    def draw(fig):
        from matplotlib.patches import Patch

        ax = fig.add_subplot()
        _title(ax, title)
        if not spans:
            _no_data(ax, "no steps")
            return
        for i, span in enumerate(spans):
            length = max(span.end - span.start, 0.0)
            colour = STATE_COLOURS.get(span.state, STATE_COLOURS["other"])
            (bar,) = ax.barh(
                i, length, left=span.start, height=0.6, color=colour,
                hatch="//" if span.state == "cached" else None, edgecolor="white",
            )  # fmt: skip
            _mark(bar)
            ax.annotate(
                human(length, "s"), (span.start + length, i), xytext=(3, 0),
                textcoords="offset points", va="center", fontsize=7,
            )  # fmt: skip
        ax.set_yticks(range(len(spans)), [_short(s.label) for s in spans])
        ax.invert_yaxis()
        ax.set_xlabel("time since the run started")
        _human_axis(ax.xaxis, "s")
        ax.margins(x=0.1)
        states = [s for s in STATE_COLOURS if any(span.state == s for span in spans)]
        if len(states) > 1:
            ax.legend(
                handles=[Patch(color=STATE_COLOURS[s], label=s) for s in states],
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
            )

    return _chart(draw, title, height)
