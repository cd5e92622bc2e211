#!/usr/bin/env python3
"""Renders a soak run's per-second samples (JSON lines) as one self-contained SVG chart.

    python3 benches/soak_plot.py SAMPLES.jsonl OUT.svg [--title TEXT]

Each input line is one sample object such as
    {"t": 12.0, "phase": "run", "rss_kib": 41234, "fds": 2010, "open": 2000, "checked": 153220,
     "faults": 37, "p50_us": 210.5, "p99_us": 1830.0, "p999_us": 9120.0}
(any value may be null or missing; a line may carry a "label", the first of which titles the chart).

The top panel plots the server's RSS in MiB against its baseline (median RSS of the "baseline"
phase) and baseline + 10%, with open file descriptors on a right axis; the bottom panel plots the
p50/p99/p999 echo latency in ms on a log axis. Phases are shaded behind both; a footer sums up.
Standard library only. Exit status: 2 on bad arguments, 1 if the file is unreadable or has no
samples.
"""
import argparse
import json
import math
import re
import statistics
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 900, 640
LEFT, RIGHT = 72, WIDTH - 72
TOP_PANEL = (58, 278)  # y of the top and bottom edges of the RSS plot area
LAT_PANEL = (316, 536)  # the same for the latency plot area

PHASE_FILL = {
    "baseline": "#d9d9d9",
    "connect": "#aecbfa",
    "warmup": "#fde293",
    "run": "#a8dab5",
    "drain": "#f9c79b",
    "after": "#d7c1f0",
}
RSS_COLOUR, FDS_COLOUR = "#1a63c9", "#9a9a9a"
LATENCY_SERIES = [("p50_us", "p50", "#2e9e44"), ("p99_us", "p99", "#f08c00"), ("p999_us", "p999", "#d62728")]


# ---------------------------------------------------------------- input


def number(value):
    """The value as a finite float, or None (null, missing, bool, string, NaN...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def load(path):
    """Returns (samples sorted by t, first label or None). Lines that are not JSON objects are skipped."""
    samples, label = [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                print(f"{path}:{lineno}: skipping a line that is not JSON", file=sys.stderr)
                continue
            if not isinstance(obj, dict):
                continue
            if label is None and isinstance(obj.get("label"), str):
                label = obj["label"]
            if number(obj.get("t")) is not None:
                samples.append(obj)
    samples.sort(key=lambda s: number(s["t"]))
    return samples, label


def series(samples, key, scale=1.0):
    """[(t, value * scale or None)] for every sample."""
    out = []
    for s in samples:
        v = number(s.get(key))
        out.append((number(s["t"]), None if v is None else v * scale))
    return out


def phase_stretches(samples):
    """[(phase, t_start, t_end)] for each contiguous run of one phase; a boundary lies halfway between
    the last sample of one stretch and the first of the next."""
    runs = []  # [phase, first t, last t]
    for s in samples:
        phase, t = s.get("phase"), number(s["t"])
        if runs and runs[-1][0] == phase:
            runs[-1][2] = t
        else:
            runs.append([phase, t, t])
    stretches = []
    for i, (phase, first, last) in enumerate(runs):
        start = first if i == 0 else (runs[i - 1][2] + first) / 2
        end = last if i == len(runs) - 1 else (last + runs[i + 1][1]) / 2
        stretches.append((phase, start, end))
    return stretches


# ---------------------------------------------------------------- summary numbers


def values(points):
    return [v for _, v in points if v is not None]


def baseline_of(samples, key):
    """Median of key over the "baseline" phase, else the first non-null value, else None."""
    base = [number(s.get(key)) for s in samples if s.get("phase") == "baseline"]
    base = [v for v in base if v is not None]
    if base:
        return statistics.median(base)
    rest = values(series(samples, key))
    return rest[0] if rest else None


def last_value(points):
    vals = values(points)
    return vals[-1] if vals else None


def summary(samples, rss, fds):
    """The footer's two lines of text."""
    base_rss, base_fds = baseline_of(samples, "rss_kib"), baseline_of(samples, "fds")
    base_rss = None if base_rss is None else base_rss / 1024
    peak = max(rss, key=lambda p: -math.inf if p[1] is None else p[1])
    final_rss, final_fds = last_value(rss), last_value(fds)
    run_p99 = [(number(s["t"]), number(s.get("p99_us"))) for s in samples if s.get("phase") == "run"]
    run_p99 = [p for p in run_p99 if p[1] is not None]

    parts = []
    if peak[1] is not None:
        parts.append(f"peak RSS {peak[1]:.1f} MiB at {fmt_num(peak[0])} s")
    parts.append("baseline RSS " + ("n/a" if base_rss is None else f"{base_rss:.1f} MiB"))
    if final_rss is not None:
        growth = f" ({(final_rss / base_rss - 1) * 100:+.1f}%)" if base_rss else ""
        parts.append(f"final RSS {final_rss:.1f} MiB{growth}")
    if final_fds is not None:
        base = "n/a" if base_fds is None else f"{base_fds:,.0f}"
        parts.append(f"fds {final_fds:,.0f} final vs {base} baseline")
    if run_p99:
        t, worst = max(run_p99, key=lambda p: p[1])
        parts.append(f"max p99 in run {fmt_ms(worst / 1000)} ms at {fmt_num(t)} s")
    else:
        parts.append("max p99 in run n/a")

    first, last = samples[0], samples[-1]
    extra = [f"{len(samples)} sample{'s' if len(samples) != 1 else ''} over {fmt_num(number(last['t']) - number(first['t']))} s"]
    for key, name in (("open", "open at end"), ("checked", "messages checked"), ("faults", "faults injected")):
        v = last_value(series(samples, key))
        if v is not None:
            extra.append(f"{v:,.0f} {name}")
    return " · ".join(parts), " · ".join(extra)


# ---------------------------------------------------------------- scales and ticks


def nice_step(span, target):
    """The smallest of 1, 2, 5 × 10^k that cuts span into at most about target pieces."""
    if span <= 0:
        return 1.0
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw * (1 - 1e-9):
            return m * power
    return 10 * power


def ticks_within(lo, hi, step):
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [k * step for k in range(first, last + 1)]


def nice_domain(lo, hi, target=5, headroom=0.0):
    """Widens [lo, hi] a little (4% below, headroom × span above) and rounds it outwards to multiples
    of a nice step; returns (lo, hi, ticks). Data that is never negative keeps a domain >= 0."""
    never_negative = lo >= 0
    span = hi - lo
    if span <= 0:  # a flat line: give it room around its value
        span = max(abs(hi) * 0.1, 1.0)
        lo, hi = lo - span / 2, hi + span / 2
    lo, hi = lo - span * 0.04, hi + span * headroom
    if never_negative:
        lo = max(lo, 0.0)
    step = nice_step(hi - lo, target)
    lo2 = math.floor(lo / step + 1e-9) * step
    hi2 = math.ceil(hi / step - 1e-9) * step
    return lo2, hi2, ticks_within(lo2, hi2, step)


def decades(vals):
    """(lowest, highest) power of ten covering the positive vals, at least one decade apart."""
    lo = math.floor(math.log10(min(vals)))
    hi = math.ceil(math.log10(max(vals)))
    return lo, max(hi, lo + 1)


def linear(d0, d1, r0, r1):
    return lambda v: r0 + (v - d0) / (d1 - d0) * (r1 - r0)


def log10_scale(e0, e1, r0, r1):
    return lambda v: r0 + (math.log10(v) - e0) / (e1 - e0) * (r1 - r0)


def fmt_num(v):
    """A tick or summary number without needless decimals."""
    if v == 0:
        return "0"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.3g}"


def fmt_ms(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_decade(e):
    """10^e written out: 0.001, 0.1, 1, 10, 1000."""
    return f"{10 ** e:d}" if e >= 0 else "0." + "0" * (-e - 1) + "1"


# ---------------------------------------------------------------- svg building blocks

HALO = ' stroke="#ffffff" stroke-width="3" stroke-opacity="0.8" paint-order="stroke"'  # keeps labels legible over lines
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xml_text(s):
    return escape(_XML_INVALID.sub("", str(s)))


def xml_attr(s):
    return escape(_XML_INVALID.sub("", str(s)), {'"': "&quot;"})


def text(x, y, s, size=11, anchor="start", fill="#333", extra=""):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
            f"{xml_text(s)}</text>")


def line(x1, y1, x2, y2, stroke, width=1.0, dash=None, extra=""):
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
            f'stroke-width="{width}"{dash_attr}{extra}/>')


def text_width(s, size=11):
    """A rough width estimate for sans-serif text, enough to decide whether a label fits."""
    return len(s) * size * 0.52


def thin(segment):
    """Keeps the first, lowest, highest and last point of each pixel column, so long runs stay small
    without losing spikes. segment: [(x, y)] in pixels, x increasing."""
    out, column = [], []

    def flush():
        keep = {0, len(column) - 1,
                min(range(len(column)), key=lambda i: column[i][1]),
                max(range(len(column)), key=lambda i: column[i][1])}
        out.extend(column[i] for i in sorted(keep))

    for p in segment:
        if column and int(p[0]) != int(column[0][0]):
            flush()
            column = []
        column.append(p)
    if column:
        flush()
    return out


def segments(points, xs, ys, max_gap):
    """Splits [(t, v)] into runs of pixel points, breaking at nulls and at time gaps > max_gap."""
    runs, current, prev_t = [], [], None
    for t, v in points:
        if v is None or (prev_t is not None and t - prev_t > max_gap):
            if current:
                runs.append(current)
            current = []
        if v is not None:
            current.append((xs(t), ys(v)))
        prev_t = t
    if current:
        runs.append(current)
    if len(points) > 2 * (RIGHT - LEFT):
        runs = [thin(r) for r in runs]
    return runs


def polyline(points, xs, ys, max_gap, colour, width=1.6, clip=None):
    """A path through the non-null points, with gaps; lone points become dots."""
    parts, dots = [], []
    for run in segments(points, xs, ys, max_gap):
        if len(run) == 1:
            dots.append(run[0])
            continue
        parts.append("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in run))
    clip_attr = f' clip-path="url(#{clip})"' if clip else ""
    out = []
    if parts:
        out.append(f'<path d="{" ".join(parts)}" fill="none" stroke="{colour}" stroke-width="{width}" '
                   f'stroke-linejoin="round"{clip_attr}/>')
    out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{width}" fill="{colour}"{clip_attr}/>' for x, y in dots]
    return out


def legend(entries, x_right, y):
    """Right-aligned legend row: entries are (label, colour, width, dash)."""
    out, x = [], x_right
    for label, colour, width, dash in reversed(entries):
        x -= text_width(label)
        out.append(text(x, y + 4, label))
        x -= 26
        out.append(line(x, y, x + 20, y, colour, width, dash))
        x -= 16
    return out


def clip_rect(ident, top, bottom):
    return (f'<clipPath id="{ident}"><rect x="{LEFT}" y="{top - 2}" width="{RIGHT - LEFT}" '
            f'height="{bottom - top + 4}"/></clipPath>')


# ---------------------------------------------------------------- panels


def phase_shading(stretches, xs, top, bottom, labelled):
    out = []
    for phase, start, end in stretches:
        fill = PHASE_FILL.get(phase, "#eeeeee")
        x0, x1 = xs(start), xs(end)
        if x1 - x0 > 0:
            out.append(f'<rect x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{bottom - top}" '
                       f'fill="{fill}" fill-opacity="0.45"/>')
        name = "" if phase is None else str(phase)
        if labelled and name and x1 - x0 >= text_width(name, 10) + 8:
            out.append(text((x0 + x1) / 2, top + 12, name, size=10, anchor="middle", fill="#555", extra=HALO))
    return out


def x_grid(xticks, xs, top, bottom, labels):
    out = []
    for t in xticks:
        out.append(line(xs(t), top, xs(t), bottom, "#000", 0.5, extra=' stroke-opacity="0.12"'))
        if labels:
            out.append(line(xs(t), bottom, xs(t), bottom + 4, "#666"))
            out.append(text(xs(t), bottom + 17, fmt_num(t), anchor="middle"))
    return out


def frame(top, bottom):
    return f'<rect x="{LEFT}" y="{top}" width="{RIGHT - LEFT}" height="{bottom - top}" fill="none" stroke="#888"/>'


def rotated_label(x, y, s, fill="#333"):
    return text(x, y, s, anchor="middle", fill=fill, extra=f' transform="rotate(-90 {x:.1f} {y:.1f})"')


def rss_panel(samples, rss, fds, xs, xticks, max_gap, stretches):
    top, bottom = TOP_PANEL
    out = phase_shading(stretches, xs, top, bottom, labelled=True)
    out += x_grid(xticks, xs, top, bottom, labels=False)
    out.append(text(LEFT, top - 10, "Server RSS (MiB)", size=12, extra=' font-weight="bold"'))
    rss_vals = values(rss)
    base_kib = baseline_of(samples, "rss_kib")
    base = None if base_kib is None else base_kib / 1024
    entries = []
    if rss_vals:
        lo = min(rss_vals + [base])
        hi = max(rss_vals + [base * 1.1])
        d0, d1, yticks = nice_domain(lo, hi, headroom=0.12)
        ys = linear(d0, d1, bottom, top)
        for v in yticks:
            out.append(line(LEFT, ys(v), RIGHT, ys(v), "#000", 0.5, extra=' stroke-opacity="0.12"'))
            out.append(text(LEFT - 6, ys(v) + 4, fmt_num(v), anchor="end"))
        out.append(line(LEFT, ys(base), RIGHT, ys(base), "#444", 1.2, "6 4"))
        out.append(line(LEFT, ys(base * 1.1), RIGHT, ys(base * 1.1), "#b3261e", 1.2, "2 3"))
        out.append(text(RIGHT - 6, ys(base * 1.1) - 5, "baseline + 10%", size=10, anchor="end", fill="#b3261e",
                        extra=HALO))
        entries.append(("RSS", RSS_COLOUR, 2, None))
        entries.append((f"baseline {base:.1f} MiB", "#444", 1.2, "6 4"))
    else:
        out.append(text((LEFT + RIGHT) / 2, (top + bottom) / 2, "no RSS readings", anchor="middle", fill="#888"))
    out += fds_axis(fds, xs, max_gap, top, bottom, entries)
    if rss_vals:
        out += polyline(rss, xs, ys, max_gap, RSS_COLOUR, 1.8, clip="clip-rss")
    out += legend(entries, RIGHT, top - 14)
    out.append(rotated_label(20, (top + bottom) / 2, "RSS (MiB)"))
    out.append(frame(top, bottom))
    return out


def fds_axis(fds, xs, max_gap, top, bottom, entries):
    """Open file descriptors as a thin grey line on a right axis of their own."""
    vals = values(fds)
    if not vals:
        return []
    d0, d1, yticks = nice_domain(min(vals), max(vals), headroom=0.12)
    ys = linear(d0, d1, bottom, top)
    out = []
    for v in yticks:
        out.append(line(RIGHT, ys(v), RIGHT + 4, ys(v), FDS_COLOUR))
        out.append(text(RIGHT + 7, ys(v) + 4, fmt_num(v), fill="#777"))
    out += polyline(fds, xs, ys, max_gap, FDS_COLOUR, 1.0, clip="clip-rss")
    out.append(rotated_label(WIDTH - 16, (top + bottom) / 2, "open fds", fill="#777"))
    entries.append(("open fds (right)", FDS_COLOUR, 1.0, None))
    return out


def latency_panel(lat, xs, xticks, max_gap, stretches):
    top, bottom = LAT_PANEL
    out = phase_shading(stretches, xs, top, bottom, labelled=False)
    out += x_grid(xticks, xs, top, bottom, labels=True)
    out.append(text(LEFT, top - 10, "Echo latency of well-behaved connections (ms, log scale)", size=12,
                    extra=' font-weight="bold"'))
    positive = [v for points in lat.values() for v in values(points) if v > 0]
    if positive:
        e0, e1 = decades(positive)
        ys = log10_scale(e0, e1, bottom, top)
        for e in range(e0, e1 + 1):
            out.append(line(LEFT, ys(10 ** e), RIGHT, ys(10 ** e), "#000", 0.6, extra=' stroke-opacity="0.2"'))
            out.append(text(LEFT - 6, ys(10 ** e) + 4, fmt_decade(e), anchor="end"))
            if e < e1 and e1 - e0 <= 6:
                for m in range(2, 10):
                    y = ys(m * 10 ** e)
                    out.append(line(LEFT, y, RIGHT, y, "#000", 0.4, extra=' stroke-opacity="0.06"'))
        for key, name, colour in LATENCY_SERIES:
            points = [(t, v if v is not None and v > 0 else None) for t, v in lat[key]]
            out += polyline(points, xs, ys, max_gap, colour, 1.5, clip="clip-lat")
    else:
        out.append(text((LEFT + RIGHT) / 2, (top + bottom) / 2, "no latency samples", anchor="middle", fill="#888"))
    out += legend([(name, colour, 2, None) for _, name, colour in LATENCY_SERIES], RIGHT, top - 14)
    out.append(rotated_label(20, (top + bottom) / 2, "latency (ms)"))
    out.append(text((LEFT + RIGHT) / 2, bottom + 34, "time since start (s)", anchor="middle"))
    out.append(frame(top, bottom))
    return out


# ---------------------------------------------------------------- the chart


def max_gap_of(times):
    """A time step beyond which the lines are broken: 2.5 × the median spacing of samples."""
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return 2.5 * statistics.median(steps) if steps else math.inf


def render(samples, title):
    times = [number(s["t"]) for s in samples]
    t0, t1 = times[0], times[-1]
    if t1 <= t0:
        t0, t1 = t0 - 0.5, t1 + 0.5
    xs = linear(t0, t1, LEFT, RIGHT)
    xticks = ticks_within(t0, t1, nice_step(t1 - t0, 10))
    max_gap = max_gap_of(times)
    stretches = phase_stretches(samples)
    rss = series(samples, "rss_kib", 1 / 1024)
    fds = series(samples, "fds")
    lat = {key: series(samples, key, 1 / 1000) for key, _, _ in LATENCY_SERIES}
    footer, extra = summary(samples, rss, fds)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif">',
        f"<title>{xml_text(title)}</title>",
        "<defs>" + clip_rect("clip-rss", *TOP_PANEL) + clip_rect("clip-lat", *LAT_PANEL) + "</defs>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        text(WIDTH / 2, 24, title, size=16, anchor="middle", fill="#111", extra=' font-weight="bold"'),
    ]
    out += rss_panel(samples, rss, fds, xs, xticks, max_gap, stretches)
    out += latency_panel(lat, xs, xticks, max_gap, stretches)
    out.append(text(WIDTH / 2, HEIGHT - 34, footer, size=12, anchor="middle", fill="#111"))
    out.append(text(WIDTH / 2, HEIGHT - 15, extra, size=11, anchor="middle", fill="#666"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="soak_plot.py", usage="python3 benches/soak_plot.py SAMPLES.jsonl OUT.svg [--title TEXT]",
        description="Render a soak run's per-second samples (JSON lines) as an SVG chart.")
    parser.add_argument("samples", help="JSON-lines file, one sample object a line")
    parser.add_argument("out", help="the SVG file to write")
    parser.add_argument("--title", help="chart title (default: the first \"label\" in the samples)")
    args = parser.parse_args(argv)

    try:
        samples, label = load(args.samples)
    except OSError as e:
        print(f"soak_plot: cannot read {args.samples}: {e.strerror}", file=sys.stderr)
        return 1
    if not samples:
        print(f"soak_plot: {args.samples} has no samples (no JSON object lines with a numeric \"t\")",
              file=sys.stderr)
        return 1
    title = args.title if args.title is not None else (label or "soak run")
    svg = render(samples, title)
    try:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(svg)
    except OSError as e:
        print(f"soak_plot: cannot write {args.out}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
