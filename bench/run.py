"""Measure Campaign Dispatcher on real servers and print the figures.

    make bench                    # or: .venv/bin/python -m bench.run [--quick] [--only NAME …]
    make bench BENCH_ARGS=--million   # one campaign of 1,000,000 recipients end to end, and nothing else

Starts its own PostgreSQL and Redis (embedded, in a temporary directory) unless
BENCH_DATABASE_URL / BENCH_REDIS_URL are given, the Procfile's gunicorn and
real RQ worker processes, and drives them over HTTP and the live stream as a
browser would. A full run writes bench/results.json. Nothing here is asserted:
these are measurements, printed next to their targets (bench/figures.py).
"""

import argparse
import os
import resource
import sys
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    api,
    browser,
    contacts,
    dashboard,
    exports,
    fairness,
    million,
    operations,
    pastes,
    rate_limit,
    receipts,
    results,
    scaling,
    schedule,
    search,
    throughput,
    watchers,
)
from bench.figures import BY_KEY
from bench.harness import Bench, environment, prepared_app
from bench.measure import Row
from bench.stack import servers, start_web


@dataclass(frozen=True)
class Step:
    name: str  # as --only names it
    measure: Callable[..., Any]
    # The step whose result this one is given: it runs first even when not asked for.
    needs: str = ""


# In the order they run. The pastes first, on a database not yet busy vacuuming the sends' updates.
STEPS = (
    Step("imports", pastes.imports),
    Step("pages", pastes.pages, needs="imports"),
    Step("latency_bound", throughput.latency_bound),
    Step("zero_latency", throughput.zero_latency),
    Step("scaling", throughput.scaling),
    # On addresses of its own, opting none out; its campaigns complete, so nothing is left sending.
    Step("worker_scaling", scaling.worker_scaling),
    # Latency-bound as scaling is, on a database still small; they send to no address opted
    # out, and small_behind_large's 100,000 recipients are deleted when it is done, so the steps after
    # find the tables and the opt-outs as they would without them.
    Step("many_campaigns", fairness.many_campaigns),
    Step("small_behind_large", fairness.small_behind_large),
    Step("rate_limit", rate_limit.rate_limit),
    Step("sequential", throughput.sequential, needs="latency_bound"),
    Step("browser", browser.watched_in_browser),
    Step("watchers", watchers.watchers),
    Step("personalized", throughput.personalized),
    Step("contacts", contacts.contacts),
    Step("contact_import", contacts.contact_import),
    Step("scheduled", schedule.scheduled),
    Step("api_list", api.api_list),
    Step("api_send", api.api_send),
    Step("search_recipients", search.recipients),
    Step("search_campaigns", search.campaigns),
    # On the 10,000 campaigns the step before made.
    Step("operations_page", operations.operations_page, needs="search_campaigns"),
    Step("dashboard", dashboard.dashboard),
    # Its 1,100,000 recipients are deleted when it is done.
    Step("exports", exports.exports),
    # Its 300,000 recipients are deleted when it is done; its reconciler looks at sending campaigns once.
    Step("receipts", receipts.receipts),
    Step("receipts_overhead", receipts.receipts_overhead),
    # Last: its 240,000 recipients and their attempts slowed the searches after it.
    Step("metrics_overhead", throughput.metrics_overhead),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test of the benchmark itself")
    parser.add_argument(
        "--only",
        choices=[step.name for step in STEPS],
        action="append",
        help="measure only these (repeatable); no results file is written unless --results names one",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="where a full run writes (default bench/results.json; a --quick or --only run writes only when given "
        "this, an --only run marked with the steps it ran)",
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="only one campaign of a million recipients end to end (issue 29), written to bench/results-million.json",
    )
    parser.add_argument(
        "--million-size",
        type=int,
        default=million.SIZE,
        metavar="N",
        help="--million's recipients; another size than the default writes only when given --results",
    )
    args = parser.parse_args()
    if args.million and (args.only or args.quick):
        parser.error("--million runs alone: no --only or --quick with it")
    if args.million_size != million.SIZE and not args.million:
        parser.error("--million-size is --million's")
    if args.million_size < 1_000:
        parser.error("--million-size is at least 1,000: ten pages of recipients to watch, and one STOP")
    if args.only and args.results and args.results.resolve() == results.RESULTS:
        parser.error(f"an --only run is not a full one: it is not written over {results.RESULTS}")
    # A thousand streams are a thousand sockets here and in the web processes.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    with ExitStack() as stack:
        database_url, redis_url = servers(stack)
        env = environment(database_url, redis_url)
        if args.million:
            # A campaign to every contact: the New campaign form takes up to this many.
            env["RECIPIENT_LINE_LIMIT"] = str(max(args.million_size, million.SIZE))
        app = prepared_app(database_url, redis_url)
        base_url, web = start_web(stack, env)
        bench = Bench(app, env, redis_url, base_url, web, args.quick)
        print(f"Measuring on {os.cpu_count()} cores{' (quick)' if args.quick else ''}…", flush=True)
        if args.million:
            million.million(bench, args.million_size)
        else:
            measure(bench, set(args.only or [step.name for step in STEPS]))

    _print_table(bench.rows)
    if args.million:
        return _write_million(bench, args.results or (results.MILLION if args.million_size == million.SIZE else None))
    path = args.results or (None if args.quick or args.only else results.RESULTS)
    if path is None:
        return 0
    written = results.write(bench.results, args.quick, path, only=args.only)
    print(f"Wrote {path}, measured {written['measured_at']} on {written['machine']}.")
    if not args.quick and not args.only and (missing := results.missing(written)):
        print(f"Not measured, so this run is not a full one to commit: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def _write_million(bench: Bench, path: Path | None) -> int:
    """A --million run's figures, to ``path`` if there is one; non-zero when an invariant failed."""
    if path is not None:
        written = results.write(bench.results, False, path)
        print(f"Wrote {path}, measured {written['measured_at']} on {written['machine']}.")
        if missing := results.missing(written, run="million"):
            print(f"Not measured: {', '.join(missing)}", file=sys.stderr)
            return 1
    return 1 if bench.results.get("million_checks_failed") else 0


def measure(bench: Bench, only: set[str]) -> None:
    """Run the chosen steps and those they need, in order."""
    wanted = only | {step.needs for step in STEPS if step.name in only and step.needs}
    done: dict[str, Any] = {}
    for step in STEPS:
        if step.name in wanted:
            given = (done[step.needs],) if step.needs else ()
            done[step.name] = step.measure(bench, *given)


def _print_table(rows: list[Row]) -> None:
    table = [(row.figure, row.measured, BY_KEY[row.key].target_said()) for row in rows]
    width = max(len(figure) for figure, _, _ in table)
    measured_width = max(len(measured) for _, measured, _ in table)
    print(f"\n| {'figure':<{width}} | {'measured':<{measured_width}} | target |")
    print(f"| {'-' * width} | {'-' * measured_width} | ------ |")
    for figure, measured, target in table:
        print(f"| {figure:<{width}} | {measured:<{measured_width}} | {target} |")
    print()


if __name__ == "__main__":
    sys.exit(main())
