"""Measure Campaign Dispatcher on real servers and print the figures.

    make bench                    # or: .venv/bin/python -m bench.run [--quick]

Starts its own PostgreSQL and Redis (embedded, in a temporary directory) unless
BENCH_DATABASE_URL / BENCH_REDIS_URL are given, and real RQ worker processes.
Writes bench/results.json. Nothing here is asserted: these are measurements.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import flask_migrate
from sqlalchemy import select, text

from app import create_app, embedded
from app.audit import Via
from app.auth.models import Role
from app.campaigns import dispatch
from app.campaigns.models import Campaign
from app.campaigns.parsing import ParsedRecipient
from app.config import psycopg2_url
from app.extensions import db
from app.users import staff

BENCH_USER = "bench@example.com"
BENCH_PASSWORD = "bench password, not a secret"

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test of the benchmark itself")
    args = parser.parse_args()

    with ExitStack() as stack:
        database_url, redis_url = _servers(stack)
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": psycopg2_url(database_url),
            "REDIS_URL": redis_url,
            "SSE_REDIS_URL": redis_url,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "bench-only",
            "RQ_QUEUE": "bench",
            # The 100,000-line figure is above the default limit of 50,000.
            "RECIPIENT_LINE_LIMIT": 100_000,
        })
        with app.app_context():
            flask_migrate.upgrade()
            db.session.execute(text("TRUNCATE audit_events, campaigns, recipients, users RESTART IDENTITY CASCADE"))
            staff.add(BENCH_USER, Role.OPERATOR, BENCH_PASSWORD, actor=None, via=Via.COMMAND_LINE)
            db.session.commit()
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "RQ_QUEUE": "bench",
               "SECRET_KEY": "bench-only"}

        results: dict = {"cores": os.cpu_count()}
        rows = []
        sizes = (1_000, 10_000) if args.quick else (10_000, 100_000)
        for size, key, target in zip(sizes, ("import_10k_s", "import_100k_s"), (1.5, 10.0)):
            seconds = _time_paste(app, size)
            results[key] = round(seconds, 3)
            rows.append((f"store a {size:,}-line paste (POST /campaigns/new)", f"{seconds:.2f} s", f"≤ {target} s"))

        recipients = 50 if args.quick else 200
        concurrency = 20
        seconds = _time_campaign(app, env, recipients, concurrency)
        ideal = recipients * 2.0 / concurrency
        results["campaign_200_s"] = round(seconds, 2)
        results["campaign_200_ratio"] = round(seconds / ideal, 3)
        rows.append((
            f"{recipients} recipients, latency 1-3 s, 8% failures, concurrency {concurrency}, 1 worker: Start → completed",
            f"{seconds:.1f} s ({seconds / ideal:.2f} × ideal {ideal:.0f} s)",
            "about 20 s",
        ))

    results["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    results["machine"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    _print_table(rows, results)
    return 0


def _servers(stack: ExitStack) -> tuple[str, str]:
    database_url = os.environ.get("BENCH_DATABASE_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL")
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dispatcher-bench-")))
    if not database_url:
        postgres = embedded.start_postgres(workdir / "pg", database="bench")
        stack.callback(postgres.stop)
        database_url = postgres.url
    if not redis_url:
        redis_server = embedded.start_redis(workdir / "redis")
        stack.callback(redis_server.stop)
        redis_url = redis_server.url
    return database_url, redis_url


def _time_paste(app, size: int) -> float:
    paste = "\n".join(f"Person {i}, person{i}@example.com" for i in range(size))
    client = app.test_client()
    signed_in = client.post("/sign-in", data={"email": BENCH_USER, "password": BENCH_PASSWORD})
    assert signed_in.status_code == 302, "the benchmark's operator could not sign in"
    started = time.perf_counter()
    response = client.post("/campaigns/new", data={
        "title": f"{size:,} pasted", "channel": "email", "message": "Hello", "recipients": paste,
    })
    seconds = time.perf_counter() - started
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return seconds


def _time_campaign(app, env: dict, recipients: int, concurrency: int) -> float:
    worker_env = {**env, "PROVIDER_LATENCY_MIN": "1", "PROVIDER_LATENCY_MAX": "3",
                  "PROVIDER_FAILURE_RATE": "0.08", "DISPATCH_CONCURRENCY": str(concurrency)}
    worker = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=worker_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with app.app_context():
            parsed = [ParsedRecipient(i, f"P{i}", f"p{i}@example.com", f"p{i}@example.com") for i in range(recipients)]
            campaign = dispatch.create_campaign("latency-bound", "email", "Hello", parsed, created_by=None)
            db.session.commit()
            time.sleep(1.0)  # let the worker finish starting
            started = time.perf_counter()
            dispatch.start(campaign.id, None)
            db.session.commit()
            dispatch.enqueue_send(campaign.id)
            while db.session.scalar(select(Campaign.status).where(Campaign.id == campaign.id)) != "completed":
                db.session.commit()
                time.sleep(0.05)
            return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _print_table(rows: list[tuple[str, str, str]], results: dict) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\nCampaign Dispatcher benchmark · {results['machine']} · {results['measured_at']}\n")
    print(f"{'figure':<{width}}  {'measured':<28}  target")
    print(f"{'-' * width}  {'-' * 28}  ------")
    for figure, measured, target in rows:
        print(f"{figure:<{width}}  {measured:<28}  {target}")
    print()


if __name__ == "__main__":
    sys.exit(main())
