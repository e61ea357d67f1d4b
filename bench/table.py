"""The README's benchmark table, generated from ``bench/results.json``.

    python -m bench.table                      # print it
    python -m bench.table --write README.md    # replace the block between the markers
    python -m bench.table --results PATH       # from another results file

Every figure of bench/figures.py gets a row: its value in the latest full
run, the range over the full runs kept with it, its target and whether the
value met it. The date and machine are the run's own, so the README cannot
say one thing and results.json another. The ``--million`` run's figures
follow in a table of their own, from ``bench/results-million.json``.
"""

import argparse
import sys
from pathlib import Path
from typing import Any

from bench import results as results_file
from bench.figures import FIGURES, MILLION_FIGURES, Figure

START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
NOT_MEASURED = "not measured in this run"


def render(results: dict[str, Any], million: dict[str, Any] | None = None) -> str:
    """The block, markers included: the full run's table, then the --million run's."""
    runs = results_file.runs(results)
    lines = [
        START,
        "<!-- Generated from bench/results.json and bench/results-million.json by `make bench-table`; the figures'"
        " words are in bench/figures.py. -->",
        "",
        _heading(results, runs),
        "",
        "| figure (`results.json` key) | measured | target | met |",
        "| --- | --- | --- | --- |",
    ]
    lines += [_row(figure, results, runs) for figure in FIGURES]
    lines += ["", *_million(million)]
    return "\n".join([*lines, END])


def _million(million: dict[str, Any] | None) -> list[str]:
    """The --million run's table (issue 29), or a line saying there is none yet."""
    command = "`make bench BENCH_ARGS=--million`"
    if million is None:
        return [f"One campaign of 1,000,000 recipients end to end ({command}): not run yet."]
    runs = results_file.runs(million)
    when = million["measured_at"].replace("T", " ")[:16] + " UTC"
    size = million.get("million_size", 0)
    said = f"One campaign of {size:,} recipients end to end ({command}), {when} on {million['machine']}."
    if len(runs) > 1:
        said += f" In brackets, the range over the {len(runs)} such runs `results-million.json` keeps."
    return [
        said,
        "",
        "| figure (`results-million.json` key) | measured | target | met |",
        "| --- | --- | --- | --- |",
        *(_row(figure, million, runs) for figure in MILLION_FIGURES),
    ]


def _heading(results: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    when = results["measured_at"].replace("T", " ")[:16] + " UTC"
    quick = " (`--quick`: smaller sizes than the rows say; not comparable)" if results.get("quick") else ""
    said = f"The full run of {when}{quick} on {results['machine']}."
    if len(runs) == 1:
        return f"{said} It is the only full run `results.json` holds, so no figure has a range yet."
    first = min(run["measured_at"] for run in runs)[:10]
    return (
        f"{said} In brackets, the range over the {len(runs)} full runs on this machine that `results.json` "
        f"keeps ({first} to {results['measured_at'][:10]})."
    )


def _row(figure: Figure, results: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    says = f"{figure.says} (`{figure.key}`)".replace("|", "\\|")
    value = results.get(figure.key)
    if value is None:
        return f"| {says} | {NOT_MEASURED} | {figure.target_said()} | |"
    measured = figure.format(value)
    seen = [run[figure.key] for run in runs if isinstance(run.get(figure.key), int | float)]
    if len(seen) > 1 and not isinstance(value, list):
        measured += f" ({figure.format([min(seen), max(seen)]).removesuffix(figure.unit)})"
    met = figure.target.met(value) if figure.target and not isinstance(value, list) else None
    return f"| {says} | {measured} | {figure.target_said()} | {'' if met is None else 'yes' if met else '**no**'} |"


def write_into(readme: Path, block: str) -> None:
    """Replace what lies between the markers (themselves included) with ``block``."""
    text = readme.read_text()
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme}: no {START} … {END} block to replace")
    readme.write_text(text[:start] + block + text[end + len(END) :])


def block_in(readme: Path) -> str:
    """The block as the file has it, markers included; empty when it has none."""
    text = readme.read_text()
    start, end = text.find(START), text.find(END)
    return text[start : end + len(END)] if 0 <= start < end else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=results_file.RESULTS, help="the results file to render")
    parser.add_argument(
        "--million", type=Path, default=results_file.MILLION, help="the --million run's results file, if there is one"
    )
    parser.add_argument("--write", type=Path, metavar="README", help="replace the block in this file")
    args = parser.parse_args()
    block = render(results_file.load(args.results), results_file.load_if_there(args.million))
    if args.write:
        write_into(args.write, block)
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
