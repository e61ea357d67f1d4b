"""docs/scaling.svg, drawn from a results file's ``worker_scaling`` figures.

    python -m bench.chart_scaling                        # from bench/results.json
    python -m bench.chart_scaling --results PATH --out docs/scaling.svg

Two panels of plain SVG: recipients a second against worker processes at
1–3 s latency, with the ideal (processes × 25 /s), and at zero latency, with
PostgreSQL's and the workers' share of the machine's CPU under each.
A file without those figures is not drawn: the script names what it lacks
and exits non-zero, so no chart is ever drawn from numbers not measured.
"""

import argparse
import sys
from html import escape
from pathlib import Path
from typing import Any

from bench import results as results_file

OUT = Path(__file__).resolve().parent.parent / "docs" / "scaling.svg"
LATENCY_PROCESSES = (1, 2, 4, 8)
ZERO_PROCESSES = (1, 2, 4)
PER_PROCESS_IDEAL = 25  # 50 sends in flight ÷ 2 s mean latency
WIDTH, HEIGHT = 760, 380
# Each panel's plot area: left, top, width, height.
PANELS = ((70, 50, 270, 200), (470, 50, 260, 200))
INK, GRID, MEASURED, IDEAL = "#222", "#ddd", "#1f5fa8", "#888"


def needed() -> list[str]:
    return [f"workers_{n}_per_s" for n in LATENCY_PROCESSES] + [
        f"workers_zero_{n}_{what}" for n in ZERO_PROCESSES for what in ("per_s", "postgres_cpu_pct", "workers_cpu_pct")
    ]


def render(results: dict[str, Any]) -> str:
    when = results["measured_at"].replace("T", " ")[:16] + " UTC"
    partial = " (an --only worker_scaling run)" if results.get("only") else ""
    latency = [(n, results[f"workers_{n}_per_s"]) for n in LATENCY_PROCESSES]
    zero = [(n, results[f"workers_zero_{n}_per_s"]) for n in ZERO_PROCESSES]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        'role="img" aria-labelledby="title desc" font-family="sans-serif" font-size="12">',
        '<title id="title">Throughput against worker processes</title>',
        '<desc id="desc">'
        + escape(
            "At 1–3 s latency, recipients a second with "
            + ", ".join(f"{_processes(n)} {rate:,.1f}" for n, rate in latency)
            + f" (ideal {PER_PROCESS_IDEAL} a process). At zero latency, "
            + ", ".join(
                f"{_processes(n)} {rate:,.0f} with PostgreSQL at {results[f'workers_zero_{n}_postgres_cpu_pct']:.0f} % "
                "of the CPU"
                for n, rate in zero
            )
            + f". Measured {when}{partial} on {results['machine']}."
        )
        + "</desc>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]
    ideal_top = PER_PROCESS_IDEAL * LATENCY_PROCESSES[-1]
    parts += _panel(
        PANELS[0],
        "Latency 1–3 s, 50 sends in flight a process",
        LATENCY_PROCESSES,
        latency,
        [(n, PER_PROCESS_IDEAL * n) for n in LATENCY_PROCESSES],
        top=max(ideal_top, *(rate for _, rate in latency)) * 1.1,
        labels=[f"{rate:,.0f}" for _, rate in latency],
    )
    parts += _panel(
        PANELS[1],
        "Zero latency, 100 sends in flight a process",
        ZERO_PROCESSES,
        zero,
        [],
        top=max(rate for _, rate in zero) * 1.25,
        labels=[f"{rate:,.0f}" for _, rate in zero],
        under=[
            (
                f"{label} CPU",
                [f"{results[f'workers_zero_{n}_{part}_cpu_pct']:.0f} %" for n in ZERO_PROCESSES],
            )
            for label, part in (("PostgreSQL", "postgres"), ("workers", "workers"))
        ],
    )
    key_y = HEIGHT - 22
    parts += [
        f'<line x1="70" y1="{key_y}" x2="95" y2="{key_y}" stroke="{MEASURED}" stroke-width="2.5"/>',
        f'<circle cx="82" cy="{key_y}" r="3.5" fill="{MEASURED}"/>',
        f'<text x="101" y="{key_y + 4}" fill="{INK}">measured</text>',
        f'<line x1="170" y1="{key_y}" x2="195" y2="{key_y}" stroke="{IDEAL}" stroke-width="1.5" '
        'stroke-dasharray="5 4"/>',
        f'<text x="201" y="{key_y + 4}" fill="{INK}">ideal: processes × 25 /s</text>',
        f'<text x="380" y="{key_y + 4}" fill="{INK}">CPU: share of all cores while it sent</text>',
        f'<text x="70" y="{HEIGHT - 5}" fill="#555" font-size="11">'
        + escape(f"bench worker_scaling, {when}{partial}, {results['machine']}")
        + "</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def _panel(
    box: tuple[int, int, int, int],
    title: str,
    xs: tuple[int, ...],
    measured: list[tuple[int, float]],
    ideal: list[tuple[int, float]],
    top: float,
    labels: list[str],
    under: list[tuple[str, list[str]]] | None = None,
) -> list[str]:
    left, upper, width, height = box
    bottom = upper + height
    step = _nice_step(top)

    def x(n: int) -> float:
        # Processes double from point to point: equal steps.
        return left + 20 + xs.index(n) * (width - 40) / (len(xs) - 1)

    def y(value: float) -> float:
        return bottom - value / top * height

    out = [f'<text x="{left}" y="{upper - 18}" fill="{INK}" font-weight="bold">{escape(title)}</text>']
    tick = 0.0
    while tick <= top:
        out.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{left + width}" y2="{y(tick):.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="{INK}">{tick:,.0f}</text>')
        tick += step
    out.append(
        f'<text x="{left - 50}" y="{upper + height / 2}" fill="{INK}" text-anchor="middle" '
        f'transform="rotate(-90 {left - 50} {upper + height / 2})">recipients a second</text>'
    )
    for n in xs:
        out.append(f'<text x="{x(n):.1f}" y="{bottom + 16}" text-anchor="middle" fill="{INK}">{n}</text>')
    out.append(
        f'<text x="{left + width / 2}" y="{bottom + 32}" text-anchor="middle" fill="{INK}">worker processes</text>'
    )
    if ideal:
        points = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in ideal)
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{IDEAL}" stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
    points = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in measured)
    out.append(f'<polyline points="{points}" fill="none" stroke="{MEASURED}" stroke-width="2.5"/>')
    for i, (n, v) in enumerate(measured):
        out.append(f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="3.5" fill="{MEASURED}"/>')
        out.append(
            f'<text x="{x(n):.1f}" y="{y(v) - 8:.1f}" text-anchor="middle" fill="{MEASURED}">{escape(labels[i])}</text>'
        )
    for row, (label, values) in enumerate(under or []):
        line = bottom + 52 + row * 16
        out.append(f'<text x="{left - 6}" y="{line}" text-anchor="end" fill="#555">{escape(label)}</text>')
        for n, value in zip(xs, values, strict=True):
            out.append(f'<text x="{x(n):.1f}" y="{line}" text-anchor="middle" fill="#555">{escape(value)}</text>')
    return out


def _nice_step(top: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most six grid lines up to ``top``."""
    power = 1.0
    while True:
        for factor in (1, 2, 5):
            if top / (factor * power) <= 6:
                return factor * power
        power *= 10


def _processes(count: int) -> str:
    return f"{count} process{'' if count == 1 else 'es'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=results_file.RESULTS, help="the results file to draw from")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the SVG (default {OUT})")
    args = parser.parse_args()
    results = results_file.load(args.results)
    if missing := [key for key in needed() if key not in results]:
        print(
            f"{args.results} lacks {', '.join(missing)}: run `make bench` (or "
            "`python -m bench.run --only worker_scaling --results PATH`) first. Nothing drawn.",
            file=sys.stderr,
        )
        return 1
    if results.get("quick"):
        print(f"{args.results} is a --quick run's, whose sizes are not the figures'. Nothing drawn.", file=sys.stderr)
        return 1
    args.out.write_text(render(results))
    print(f"Wrote {args.out} from the run of {results['measured_at']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
