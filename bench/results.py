"""``bench/results.json``: the figures of the latest full run, with its date
and machine, and the figures of the full runs before it on the same machine
(``earlier_runs``, newest first), from which the table gives each figure's
range. Only a full run writes it; ``--only`` runs print and leave it alone.
``bench/results-million.json``, the same shape, holds the ``--million``
run's figures: a run of another size writes only where ``--results`` says.
"""

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import FIGURES, MILLION_FIGURES

RESULTS = Path(__file__).resolve().parent / "results.json"
MILLION = Path(__file__).resolve().parent / "results-million.json"
# The latest run and four before it: enough for a range, few enough that an old machine's noise is gone.
RUNS_KEPT = 5


def machine() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def load(path: Path = RESULTS) -> dict[str, Any]:
    return json.loads(path.read_text())


def missing(results: dict[str, Any], run: str = "") -> list[str]:
    """The figures a run (``run``: "" a full one, "million" a --million one)
    should hold and this one does not: those measured since it ran are not
    missing, nor are another run's."""
    measured_at = results.get("measured_at", "")
    return [
        f.key
        for f in FIGURES + MILLION_FIGURES
        if f.run == run and f.key not in results and not (f.added and f.added > measured_at[: len(f.added)])
    ]


def load_if_there(path: Path) -> dict[str, Any] | None:
    return load(path) if path.exists() else None


def runs(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest run and the earlier ones kept with it, newest first."""
    latest = {key: value for key, value in results.items() if key != "earlier_runs"}
    return [latest, *results.get("earlier_runs", [])]


def write(figures: dict[str, Any], quick: bool, path: Path = RESULTS, only: list[str] | None = None) -> dict[str, Any]:
    """Write a run's figures to ``path``, keeping the full runs before it that
    were on this machine and at the same size (quick or not; a --million
    run's ``million_size``). ``only``: the steps a partial run measured, which
    keeps no runs before it."""
    results = {**figures, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
    if quick:
        results["quick"] = True
    if only:
        results["only"] = only
    earlier = runs(load(path)) if path.exists() and not only else []
    results["earlier_runs"] = [
        run
        for run in earlier
        if run.get("machine") == results["machine"]
        and run.get("quick", False) == quick
        and run.get("million_size") == results.get("million_size")
        and not run.get("only")
    ][: RUNS_KEPT - 1]
    path.write_text(json.dumps(results, indent=2) + "\n")
    return results
