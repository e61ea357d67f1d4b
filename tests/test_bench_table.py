"""The README's benchmark table is bench/results.json (and, once there is
one, bench/results-million.json) rendered, and that file is a full run's:
prose and figures cannot disagree. No servers: plain files."""

import json
from pathlib import Path

from bench import results, table
from bench.figures import BY_KEY, FIGURES, MILLION_FIGURES

README = Path(__file__).resolve().parent.parent / "README.md"
THE_RUN = {"measured_at", "machine", "cores", "quick", "earlier_runs"}


def test_readme_table_is_the_committed_results_rendered():
    rendered = table.render(results.load(), results.load_if_there(results.MILLION))
    assert table.block_in(README) == rendered, "run `make bench-table` and commit README.md"


def test_committed_results_are_a_full_run():
    committed = results.load()
    assert not committed.get("quick"), "a --quick run's smaller sizes are not the figures"
    assert results.missing(committed) == [], "a full run measures every figure of bench/figures.py"
    assert set(committed) - THE_RUN <= set(BY_KEY), "results.json holds a figure bench/figures.py does not describe"


def test_a_committed_million_run_is_one_of_a_million_with_every_figure():
    committed = results.load_if_there(results.MILLION)
    if committed is None:
        return  # none committed yet: the README's table says so (the test above)
    assert committed["million_size"] == 1_000_000, "a smaller --million-size run is not the figures"
    assert results.missing(committed, run="million") == []
    assert set(committed) - THE_RUN - {"million_checks"} <= set(BY_KEY)


def test_a_full_run_does_not_miss_the_million_figures_nor_a_million_run_the_full_ones():
    full = {"measured_at": "2026-12-06T00:00:00+00:00"} | {f.key: 1 for f in FIGURES}
    assert results.missing(full) == []
    assert results.missing(full, run="million") == [f.key for f in MILLION_FIGURES]
    million = {"measured_at": "2026-12-06T00:00:00+00:00"} | {f.key: 1 for f in MILLION_FIGURES}
    assert results.missing(million, run="million") == []


def test_the_million_run_has_a_table_of_its_own_saying_its_size(tmp_path):
    full = {"measured_at": "2026-12-02T18:51:48+00:00", "machine": "m", "latency_bound_ratio": 1.2}
    assert "1,000,000 recipients end to end (`make bench BENCH_ARGS=--million`): not run yet." in table.render(full)
    path = tmp_path / "results-million.json"
    for size, seconds in ((20_000, 3.0), (1_000_000, 170.0), (1_000_000, 190.0)):
        million = results.write({"million_size": size, "million_dispatch_s": seconds}, quick=False, path=path)
    rendered = table.render(full, million)
    assert "One campaign of 1,000,000 recipients end to end" in rendered
    assert "range over the 2 such runs" in rendered, "the 20,000 run is not one of them"
    assert "| 190.0 s (170.0–190.0) | ≤ 180 s | **no** |" in rendered
    assert rendered.count(table.NOT_MEASURED) == len(FIGURES) - 1 + len(MILLION_FIGURES) - 2


def test_a_figure_the_run_did_not_measure_says_so():
    run = {"measured_at": "2026-12-02T18:51:48+00:00", "machine": "m", "latency_bound_ratio": 1.2}
    rendered = table.render(run)
    assert "| 1.20 × | ≤ 1.15 × | **no** |" in rendered
    assert rendered.count(table.NOT_MEASURED) == len(FIGURES) - 1


def test_a_figure_added_after_a_run_is_not_missing_from_it():
    added = next(figure for figure in FIGURES if figure.added)
    before = {"measured_at": "2026-01-01T00:00:00+00:00"} | {f.key: 1 for f in FIGURES if f is not added}
    assert results.missing(before) == []
    assert results.missing(before | {"measured_at": f"{added.added}T12:00:00+00:00"}) == [added.key]


def test_a_figure_added_during_a_day_is_not_missing_from_a_run_earlier_that_day():
    added = next(figure for figure in FIGURES if "T" in figure.added)
    day = added.added.split("T")[0]
    before = {f.key: 1 for f in FIGURES if f is not added}
    assert results.missing(before | {"measured_at": f"{day}T00:01:00+00:00"}) == []
    assert results.missing(before | {"measured_at": f"{day}T23:59:00+00:00"}) == [added.key]


def test_each_full_run_keeps_the_runs_before_it_on_the_same_machine(tmp_path):
    path = tmp_path / "results.json"
    elsewhere = {"measured_at": "2026-01-01T00:00:00+00:00", "machine": "elsewhere", "scaling_ratio": 9}
    path.write_text(json.dumps(elsewhere))
    for ratio in (1.9, 2.1, 1.8, 2.0, 2.2, 1.7):
        written = results.write({"scaling_ratio": ratio}, quick=False, path=path)
    assert [run["scaling_ratio"] for run in results.runs(written)] == [1.7, 2.2, 2.0, 1.8, 2.1]
    assert "| 1.70 × (1.70–2.20) | ≥ 1.8 × | **no** |" in table.render(written)


def test_a_quick_run_starts_its_own_history(tmp_path):
    path = tmp_path / "results.json"
    results.write({"scaling_ratio": 2.0}, quick=False, path=path)
    written = results.write({"scaling_ratio": 1.0}, quick=True, path=path)
    assert written["quick"] and written["earlier_runs"] == []
    assert "`--quick`" in table.render(written)


def test_writing_the_table_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Benchmark\n\nWords.\n\n{table.START}\nold\n{table.END}\n\n## Next\n")
    block = table.render(results.load())
    table.write_into(readme, block)
    assert readme.read_text() == f"# Title\n\n## Benchmark\n\nWords.\n\n{block}\n\n## Next\n"
