"""Sending: against the ideal at 1–3 s latency (``latency_bound``), at zero
latency with the live stream read (``zero_latency``), one process against two
(``scaling``), one recipient at a time (``sequential``), a personal message
against a literal one (``personalized``) and with metrics counted against
without (``metrics_overhead``). Each campaign is started over HTTP and timed
from the database."""

import os
import statistics
import tempfile
import time

from sqlalchemy import func, select, text

from app.campaigns.models import Recipient
from app.extensions import db
from bench.harness import LATENCY, MEAN_LATENCY, NO_LATENCY, Bench, Run
from bench.measure import percentile
from devtools.client import StreamListener


def latency_bound(bench: Bench) -> Run:
    """The run, for ``sequential`` to compare with."""
    recipients = 400 if bench.quick else 2_000
    campaign_id = bench.campaign(recipients, "latency-bound, one process at 200")
    with bench.workers(1, DISPATCH_CONCURRENCY="200", **LATENCY) as workers:
        run = bench.dispatch(campaign_id)
    ideal = recipients * MEAN_LATENCY / 200
    bench.results["latency_bound_ratio"] = round(run.seconds / ideal, 3)
    bench.results["worker_rss_mb"] = round(workers.peak_rss_mb, 1)
    bench.row(
        "latency_bound_ratio",
        f"{recipients:,} recipients, latency 1-3 s, concurrency 200: time vs ideal",
        f"{run.seconds:.1f} s = {run.seconds / ideal:.2f} × {ideal:.0f} s",
    )
    bench.row(
        "worker_rss_mb", "worker RSS at concurrency 200 (worker + work horse, peak)", f"{workers.peak_rss_mb:.0f} MB"
    )
    return run


def zero_latency(bench: Bench) -> None:
    recipients = 5_000 if bench.quick else 20_000
    campaign_id = bench.campaign(recipients, "zero latency")
    with bench.workers(**NO_LATENCY), StreamListener(bench.http, campaign_id) as stream:
        run = bench.dispatch(campaign_id)
        time.sleep(1.0)  # the last coalesced update is at most an interval behind
    with bench.app.app_context():
        committed = dict(
            db.session.execute(
                select(Recipient.id, func.extract("epoch", Recipient.finished_at)).where(
                    Recipient.campaign_id == campaign_id
                )
            ).all()
        )
        db.session.commit()
    delays = sorted(
        (stream.terminal_at[rid] - float(at)) * 1000 for rid, at in committed.items() if rid in stream.terminal_at
    )
    p50, p95 = percentile(delays, 50), percentile(delays, 95)
    span = stream.message_times[-1] - stream.message_times[0] if len(stream.message_times) > 1 else 1.0
    per_second = len(stream.message_times) / max(span, 1.0)
    bench.results.update(
        zero_latency_per_s=round(run.per_second),
        live_p50_ms=round(p50),
        live_p95_ms=round(p95),
        sse_messages_per_s=round(per_second, 2),
    )
    bench.row(
        "zero_latency_per_s",
        f"{recipients:,} recipients, zero latency, Procfile workers ({os.cpu_count()} processes)",
        f"{run.per_second:,.0f} /s ({run.seconds:.2f} s)",
    )
    bench.row(
        "live_p95_ms",
        "live delay, committed → SSE client, p50 / p95",
        f"{p50:.0f} / {p95:.0f} ms ({len(delays):,} of {recipients:,} seen)",
    )
    bench.row(
        "sse_messages_per_s",
        "SSE messages per second to one client",
        f"{per_second:.1f} ({len(stream.message_times)} in {span:.1f} s)",
    )


def scaling(bench: Bench) -> None:
    per_process = 400 if bench.quick else 1_000
    runs = []
    for processes in (1, 2):
        campaign_id = bench.campaign(per_process * processes, f"scaling, {processes} processes")
        with bench.workers(processes, DISPATCH_CONCURRENCY="100", **LATENCY):
            runs.append(bench.dispatch(campaign_id))
    ratio = runs[1].per_second / runs[0].per_second
    bench.results["scaling_ratio"] = round(ratio, 3)
    bench.row(
        "scaling_ratio",
        "latency-bound, 1 vs 2 worker processes (100 each): throughput ratio",
        f"{ratio:.2f} × ({runs[0].per_second:.0f} → {runs[1].per_second:.0f} /s)",
    )


def sequential(bench: Bench, ours: Run) -> None:
    """``ours``: the latency-bound run, at concurrency 200."""
    recipients = 5 if bench.quick else 10
    campaign_id = bench.campaign(recipients, "sequential")
    with bench.workers(1, DISPATCH_CONCURRENCY="1", **LATENCY):
        run = bench.dispatch(campaign_id)
    speedup = ours.per_second / run.per_second
    bench.results["sequential_speedup"] = round(speedup, 1)
    bench.row(
        "sequential_speedup",
        f"one recipient at a time ({recipients} recipients, same provider): ours / sequential",
        f"{speedup:.0f} × ({run.per_second:.2f} → {ours.per_second:.0f} /s)",
    )


def personalized(bench: Bench) -> None:
    """Zero-latency throughput with a two-placeholder template over the same
    without: literal and personal runs alternate, twice each, in one run."""
    recipients = 5_000 if bench.quick else 20_000
    rates: dict[str, list[float]] = {"literal": [], "personal": []}
    for kind in ("literal", "personal") * 2:
        message = "Hi {first_name}, your code is {email|none}." if kind == "personal" else "Hi, your code is here."
        campaign_id = bench.campaign(recipients, f"zero latency, {kind}", message)
        with bench.workers(**NO_LATENCY):
            rates[kind].append(bench.dispatch(campaign_id).per_second)
    literal, personal = statistics.mean(rates["literal"]), statistics.mean(rates["personal"])
    bench.results["personalized_ratio"] = round(personal / literal, 3)
    runs = {kind: ", ".join(f"{rate:,.0f}" for rate in kind_rates) for kind, kind_rates in rates.items()}
    bench.row(
        "personalized_ratio",
        f"{recipients:,} recipients, zero latency: a two-placeholder template vs the same without",
        f"{personal / literal:.2f} × ({literal:,.0f} → {personal:,.0f} /s; runs {runs['literal']} and "
        f"{runs['personal']})",
    )


# Uncounted runs first, one of each: in --only runs the second run of the
# step, and the first with metrics on, read 10-25 % slower than the rest.
WARM_UP = ("off", "on")
# Then each kind takes as many early places as late ones.
ORDER = ("on", "off", "off", "on", "off", "on", "on", "off", "on", "off", "off", "on")
# The same 8 % of permanent failures, none of them "opted out": an opted-out
# address is skipped at the next run's Start, so each run would read faster than the one before.
NO_OPT_OUTS = {"PROVIDER_ERROR_RATES": "invalid_address=0.04,rejected_content=0.04"}


def metrics_overhead(bench: Bench) -> None:
    """Zero-latency throughput with metrics counted, as production counts them
    (every process writing to a multiprocess directory), against
    ``METRICS_ENABLED=false``, six runs each in ``ORDER``; each run starts on
    a vacuumed database, so the growing tables slow none more than another."""
    recipients = 5_000 if bench.quick else 20_000
    rates: dict[str, list[float]] = {"on": [], "off": []}
    with tempfile.TemporaryDirectory(prefix="dispatcher-metrics-") as directory:
        for n, kind in enumerate((*WARM_UP, *ORDER)):
            counting = {"PROMETHEUS_MULTIPROC_DIR": directory} if kind == "on" else {"METRICS_ENABLED": "false"}
            campaign_id = bench.campaign(recipients, f"zero latency, metrics {kind}")
            _vacuum(bench)
            with bench.workers(**{**NO_LATENCY, **NO_OPT_OUTS, **counting}):
                rate = bench.dispatch(campaign_id).per_second
            if n >= len(WARM_UP):
                rates[kind].append(rate)
    # Geometric means: a drift that multiplies each run's rate by the same factor falls on both alike.
    on, off = statistics.geometric_mean(rates["on"]), statistics.geometric_mean(rates["off"])
    overhead = (off - on) / off * 100
    bench.results["metrics_overhead_pct"] = round(overhead, 2)
    runs = {kind: ", ".join(f"{rate:,.0f}" for rate in kind_rates) for kind, kind_rates in rates.items()}
    bench.row(
        "metrics_overhead_pct",
        f"{recipients:,} recipients, zero latency: throughput lost to counting metrics (off − on) / off",
        f"{overhead:+.1f} % ({off:,.0f} → {on:,.0f} /s; runs off {runs['off']}; on {runs['on']})",
    )


def _vacuum(bench: Bench) -> None:
    """Dead rows removed, statistics fresh and dirty pages written, before a run rather than during it."""
    with bench.app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))
