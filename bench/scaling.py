"""Throughput against worker processes (issue 29, "past one machine"):
pools of 1, 2, 4 and 8 processes at 1–3 s latency, each with the same sends
in flight, then 1, 2 and 4 at zero latency (``worker_scaling``). Each run
reads every part's share of the machine's CPU (PostgreSQL, Redis, the
workers, the web process, the benchmark itself) and what PostgreSQL and Redis
did per message. Each campaign is started over HTTP and timed from the
database; docs/scaling.md reads the figures and bench/chart_scaling.py draws
them."""

import contextlib
import math
import os
import time
from dataclasses import dataclass

import psutil
from redis import Redis
from sqlalchemy import text

from app.extensions import db
from bench.harness import LATENCY, MEAN_LATENCY, NO_LATENCY, Bench, Run
from bench.stack import Workers
from bench.throughput import NO_OPT_OUTS, _vacuum

PROCESSES = (1, 2, 4, 8)
ZERO_PROCESSES = (1, 2, 4)
# Sends in flight per process at 1–3 s latency, the same in every pool, so
# only the number of processes changes; the ideal is processes × 50 ÷ 2 s.
CONCURRENCY = 50
# At zero latency, the Procfile's default: two processes are zero_latency's pool.
ZERO_CONCURRENCY = 100
# A latency-bound run lasts about this long at its ideal rate.
SECONDS = 18
ZERO_RECIPIENTS = 20_000
# Addresses of these runs' own, from p200000@example.com on: the steps before
# opted some of p0… out, whom a Start would skip, and none here opt any out.
FIRST_ADDRESS = 200_000
# The usual 8 % of permanent failures, none of them "opted out".
WITH_LATENCY = {**LATENCY, **NO_OPT_OUTS}
WITHOUT_LATENCY = {**NO_LATENCY, **NO_OPT_OUTS}
PARTS = ("postgres", "workers", "web", "redis", "bench")


@dataclass(frozen=True)
class Usage:
    """What a run cost: CPU seconds by part, over ``seconds`` of wall time on ``cores``."""

    seconds: float
    cores: int
    cpu: dict[str, float]
    machine: float  # busy CPU seconds of the whole machine, every process's

    def pct(self, part: str) -> float:
        return self.cpu.get(part, 0.0) / (self.seconds * self.cores) * 100

    @property
    def others_pct(self) -> float:
        """Processes that are not the stack's (another session's, here) and the kernel's."""
        return max(self.machine - sum(self.cpu.values()), 0.0) / (self.seconds * self.cores) * 100

    @property
    def idle_pct(self) -> float:
        return max(100 - self.machine / (self.seconds * self.cores) * 100, 0.0)

    def said(self) -> str:
        parts = ", ".join(f"{part} {self.pct(part):.0f} %" for part in PARTS if part in self.cpu)
        return f"CPU of {self.cores} cores: {parts}, others {self.others_pct:.0f} %, idle {self.idle_pct:.0f} %"


@dataclass(frozen=True)
class Traffic:
    """PostgreSQL's and Redis's counters at one moment."""

    transactions: int  # commits and rollbacks, this database
    rollbacks: int
    rows_written: int  # inserted, updated and deleted, this database
    wal_bytes: int  # the whole server's
    full_page_images: int
    redis_calls: dict[str, int]  # by command

    def per_message(self, before: "Traffic", messages: int, ours: int) -> dict[str, float]:
        """Each counter's growth since ``before`` per message; ``ours``: the
        benchmark's own transactions, left out."""
        calls = {name: n - before.redis_calls.get(name, 0) for name, n in self.redis_calls.items()}
        return {
            "transactions": (self.transactions - before.transactions - ours) / messages,
            "rollbacks": (self.rollbacks - before.rollbacks) / messages,
            "rows_written": (self.rows_written - before.rows_written) / messages,
            "wal_bytes": (self.wal_bytes - before.wal_bytes) / messages,
            "full_page_images": (self.full_page_images - before.full_page_images) / messages,
            "redis_calls": sum(calls.values()) / messages,
            **{f"redis {name}": n / messages for name, n in calls.items() if n},
        }


def worker_scaling(bench: Bench) -> None:
    """Its campaigns are deleted with their attempts (and the tables
    vacuumed) at the end, so the steps after find the tables as they were."""
    campaigns: list[int] = []
    try:
        _worker_scaling(bench, campaigns)
    finally:
        with bench.app.app_context():
            db.session.execute(text("DELETE FROM delivery_attempts WHERE campaign_id = ANY(:ids)"), {"ids": campaigns})
            db.session.execute(text("DELETE FROM campaigns WHERE id = ANY(:ids)"), {"ids": campaigns})
            db.session.commit()
        _vacuum(bench)


def _worker_scaling(bench: Bench, campaigns: list[int]) -> None:
    processes = (1, 2) if bench.quick else PROCESSES
    zero_processes = (1, 2) if bench.quick else ZERO_PROCESSES
    seconds = 5 if bench.quick else SECONDS
    rates: dict[int, float] = {}
    for n in processes:
        ideal = n * CONCURRENCY / MEAN_LATENCY
        # At least one job per process: Start queues one per DISPATCH_JOB_RECIPIENTS.
        recipients = max(round(ideal * seconds), _job_recipients(bench) * (n - 1) + 1)
        run, usage, per = _measured(
            bench, campaigns, n, recipients, DISPATCH_CONCURRENCY=str(CONCURRENCY), **WITH_LATENCY
        )
        rates[n] = run.per_second
        bench.results[f"workers_{n}_per_s"] = round(run.per_second, 1)
        bench.row(
            f"workers_{n}_per_s",
            f"{recipients:,} recipients, latency 1-3 s, {n} worker process{'es' if n > 1 else ''} × {CONCURRENCY}",
            f"{run.per_second:,.1f} /s = {run.per_second / ideal:.2f} × the ideal {ideal:,.0f} /s "
            f"({run.seconds:.1f} s); {usage.said()}",
        )
    if 8 in rates:  # not in a --quick run
        ratio = rates[8] / rates[1]
        bench.results["workers_8_ratio"] = round(ratio, 2)
        bench.row("workers_8_ratio", "latency 1-3 s, 8 processes vs 1", f"{ratio:.2f} × (ideal 8 ×)")
    _per_message(bench, "", f"{processes[-1]} × {CONCURRENCY} at latency 1-3 s", per)

    zero_recipients = 3_000 if bench.quick else ZERO_RECIPIENTS
    for n in zero_processes:
        run, usage, per = _measured(
            bench, campaigns, n, zero_recipients, DISPATCH_CONCURRENCY=str(ZERO_CONCURRENCY), **WITHOUT_LATENCY
        )
        bench.results.update(
            {
                f"workers_zero_{n}_per_s": round(run.per_second),
                f"workers_zero_{n}_postgres_cpu_pct": round(usage.pct("postgres"), 1),
                f"workers_zero_{n}_workers_cpu_pct": round(usage.pct("workers"), 1),
            }
        )
        bench.row(
            f"workers_zero_{n}_per_s",
            f"{zero_recipients:,} recipients, zero latency, {n} worker process{'es' if n > 1 else ''} × "
            f"{ZERO_CONCURRENCY}",
            f"{run.per_second:,.0f} /s ({run.seconds:.2f} s); {usage.said()}",
        )
    _per_message(bench, "_zero", f"{zero_processes[-1]} × {ZERO_CONCURRENCY} at zero latency", per)


def _measured(
    bench: Bench, campaigns: list[int], processes: int, recipients: int, **settings: str
) -> tuple[Run, Usage, dict[str, float]]:
    """One campaign sent by a pool of ``processes``, on a vacuumed database:
    its run, the CPU each part used while it sent, and what PostgreSQL and
    Redis did per message from the pool's start to its stop."""
    campaign_id = bench.campaign(recipients, f"worker scaling, {processes} processes", first=FIRST_ADDRESS)
    campaigns.append(campaign_id)
    _vacuum(bench)
    with bench.workers(processes, **settings) as workers:
        cpu = _parts(bench, workers)
        before = _traffic(bench)
        began, cpu_before = time.monotonic(), _cpu(cpu)
        run, looks = bench.dispatch_counting(campaign_id)
        cpu_after, ended = _cpu(cpu), time.monotonic()
    # After the pool stopped: its connections closed, so PostgreSQL has counted all they did.
    after = _traffic(bench)
    machine = cpu_after.pop("machine") - cpu_before.pop("machine")
    usage = Usage(
        ended - began,
        os.cpu_count() or 1,
        {part: cpu_after[part] - cpu_before[part] for part in cpu_before},
        machine,
    )
    # The readings' own transactions too: two each.
    return run, usage, after.per_message(before, run.recipients, looks + 2)


def _per_message(bench: Bench, suffix: str, pool: str, per: dict[str, float]) -> None:
    bench.results.update(
        {
            f"transactions_per_message{suffix}": round(per["transactions"], 3),
            f"wal_bytes_per_message{suffix}": round(per["wal_bytes"]),
            f"redis_calls_per_message{suffix}": round(per["redis_calls"], 2),
        }
    )
    calls = sorted(
        ((k.removeprefix("redis "), v) for k, v in per.items() if k.startswith("redis ")), key=lambda c: -c[1]
    )
    bench.row(
        f"transactions_per_message{suffix}",
        f"per message, {pool}: PostgreSQL transactions, rows written, WAL; Redis calls",
        f"{per['transactions']:.3f} transactions ({per['rollbacks']:.3f} rolled back), "
        f"{per['rows_written']:.1f} rows, {per['wal_bytes']:,.0f} B of WAL ({per['full_page_images']:.2f} full "
        f"pages); {per['redis_calls']:.1f} Redis calls ({', '.join(f'{name} {n:.2f}' for name, n in calls[:8])})",
    )


def _job_recipients(bench: Bench) -> int:
    return bench.app.config["DISPATCH_JOB_RECIPIENTS"]


def _parts(bench: Bench, workers: Workers) -> dict[str, psutil.Process]:
    """The stack's processes on this machine, each the root of its tree. A
    server elsewhere (BENCH_DATABASE_URL, BENCH_REDIS_URL) is left out."""
    parts = {"workers": psutil.Process(workers.pool.pid), "web": psutil.Process(bench.web.pid)}
    with bench.app.app_context():
        backend = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.commit()
    with contextlib.suppress(psutil.Error):
        postmaster = psutil.Process(backend).parent()
        if postmaster is not None and postmaster.name() == "postgres":
            parts["postgres"] = postmaster
    with contextlib.suppress(psutil.Error):
        server = psutil.Process(Redis.from_url(bench.redis_url).info("server")["process_id"])
        if "redis" in server.name():
            parts["redis"] = server
    return parts


def _cpu(parts: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds so far of each part's tree, and of the whole machine (``machine``)."""
    seconds = {name: _tree_seconds(root) for name, root in parts.items()}
    own = psutil.Process().cpu_times()
    # Its own only: the web process and the worker pools are its children.
    seconds["bench"] = own.user + own.system
    machine = psutil.cpu_times()
    seconds["machine"] = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
    return seconds


def _tree_seconds(root: psutil.Process) -> float:
    """A process's CPU seconds with its descendants': the live ones' own, and
    the exited ones' as their parents reaped them (a work horse, a backend)."""
    try:
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def _traffic(bench: Bench) -> Traffic:
    with bench.app.app_context():
        # This session's own counts reach the statistics at its next commit.
        db.session.execute(text("SELECT pg_stat_force_next_flush()"))
        db.session.commit()
        transactions, rollbacks, rows, wal, fpi = db.session.execute(
            text(
                """
                SELECT xact_commit + xact_rollback, xact_rollback, tup_inserted + tup_updated + tup_deleted,
                       pg_current_wal_lsn() - '0/0'::pg_lsn, (SELECT wal_fpi FROM pg_stat_wal)
                FROM pg_stat_database WHERE datname = current_database()
                """
            )
        ).one()
        db.session.commit()
    stats = Redis.from_url(bench.redis_url).info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}
    return Traffic(int(transactions), int(rollbacks), int(rows), math.floor(wal), int(fpi), calls)
