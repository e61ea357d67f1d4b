"""Would partitioning recipients and attempts by campaign pay at this size?
A measurement of its own for docs/scaling.md, outside `make bench`:

    .venv/bin/python -m bench.partitioning            # 1,000,000 then 5,000,000 other recipients
    .venv/bin/python -m bench.partitioning --quick    # 100,000 then 500,000

On an embedded PostgreSQL of its own, as the benchmark's (fsync on, default
settings) but with pg_stat_statements loaded, and the app's migrations: the
recipients table is filled with other campaigns' finished recipients (one
attempt each), in campaigns of 100,000, and vacuumed as autovacuum would have
by then. Then a campaign of 10,000 is sent through the engine's own
claim-and-record turn (``delivery.advance`` with the last turn's outcomes,
as a send job at zero latency calls it, 8 % failing permanently), in turns
of 100 (zero latency's size), of 5 and of 1 (what a job at 1–3 s latency
mostly writes), timed turn by turn, with PostgreSQL's CPU seconds (its
processes' own, from /proc); its statements read from pg_stat_statements
(planning and executing); then the dead rows it left and a VACUUM of each table
with its pass over every index timed. Then the table grows to the next size and the same is measured again.
No provider and no Redis calls: only what PostgreSQL does.
"""

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg2
from sqlalchemy import text

from app.campaigns import delivery, drafts, lifecycle
from app.campaigns.delivery import Claimed, Outcome
from app.campaigns.models import RecipientStatus
from app.extensions import db
from bench.harness import prepared_app
from bench.measure import percentile
from bench.scaling import _tree_seconds
from devtools import embedded

CAMPAIGN = 10_000
# Zero latency's turns; a few outcomes a turn; one, as a job at 1–3 s latency mostly writes.
TURNS = (100, 5, 1)
FILLER_CAMPAIGN = 100_000
FAILED = 0.08
TABLES = ("recipients", "delivery_attempts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 and 500,000 other recipients")
    parser.add_argument("--sizes", type=int, nargs="+", help="other recipients at each measurement, ascending")
    args = parser.parse_args()
    sizes = args.sizes or ([100_000, 500_000] if args.quick else [1_000_000, 5_000_000])
    with tempfile.TemporaryDirectory(prefix="dispatcher-partitioning-") as workdir, servers(Path(workdir)) as urls:
        app = prepared_app(*urls)
        with app.app_context():
            backend = db.session.scalar(text("SELECT pg_backend_pid()"))
            db.session.commit()
        postmaster = psutil.Process(backend).parent()
        assert postmaster is not None
        with app.app_context():
            db.session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            db.session.commit()
            print(f"PostgreSQL {db.session.scalar(text('SHOW server_version'))}, defaults but pg_stat_statements")
            filled = 0
            for size in sizes:
                started = time.perf_counter()
                while filled < size:
                    batch = min(FILLER_CAMPAIGN, size - filled)
                    _filler(batch, filled)
                    filled += batch
                _maintain("VACUUM ANALYZE")
                print(f"\n== {filled:,} other recipients (filled in {time.perf_counter() - started:.0f} s); {_sizes()}")
                for turn in TURNS:
                    _measure(turn, postmaster)
    return 0


@contextmanager
def servers(workdir: Path) -> Iterator[tuple[str, str]]:
    """PostgreSQL, restarted once with pg_stat_statements preloaded, and Redis (the app wants its address)."""
    postgres = embedded.start_postgres(workdir / "pg", database="bench")
    with contextlib.closing(psycopg2.connect(postgres.url)) as connection:
        connection.autocommit = True
        connection.cursor().execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        connection.cursor().execute("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
    postgres.stop()
    postgres = embedded.start_postgres(workdir / "pg", database="bench")
    redis = embedded.start_redis(workdir / "redis")
    try:
        yield postgres.url, redis.url
    finally:
        redis.stop()
        postgres.stop()


def _filler(count: int, first: int) -> None:
    """A finished campaign of ``count`` recipients, sent an hour ago, each with its attempt."""
    campaign = drafts.create_campaign(f"filler from {first:,}", "email", "Hello", [], created_by=None)
    db.session.flush()
    db.session.execute(
        text(
            """
            INSERT INTO recipients (campaign_id, line, name, address, address_normalized, status, attempts,
                                    attempt_started_at, finished_at, provider_message_id, updated_at)
            SELECT :id, n, 'P' || n, 'p' || n || '@example.com', 'p' || n || '@example.com', 'sent', 1,
                   now() - interval '1 hour', now() - interval '1 hour', 'sim-' || :id || '-' || n, now()
            FROM generate_series(:first, :first + :count - 1) AS n
            """
        ),
        {"id": campaign.id, "first": first, "count": count},
    )
    db.session.execute(
        text(
            """
            INSERT INTO delivery_attempts (campaign_id, recipient_id, attempt, started_at, finished_at, outcome,
                                           provider_message_id)
            SELECT campaign_id, id, 1, attempt_started_at, finished_at, 'sent', provider_message_id
            FROM recipients WHERE campaign_id = :id
            """
        ),
        {"id": campaign.id},
    )
    db.session.execute(
        text(
            "UPDATE campaigns SET status = 'completed', recipient_count = :count, sent_count = :count, "
            "started_at = now() - interval '1 hour', finished_at = now() - interval '1 hour' WHERE id = :id"
        ),
        {"id": campaign.id, "count": count},
    )
    db.session.commit()


def _measure(turn: int, postmaster: psutil.Process) -> None:
    campaign_id = _campaign()
    assert lifecycle.start(campaign_id, None).changed
    db.session.commit()
    _maintain("SELECT pg_stat_statements_reset()")
    before = _dead()
    rng = random.Random(29)
    times: list[float] = []
    commits: list[float] = []
    claimed: list[Claimed] = []
    cpu_before = _tree_seconds(postmaster)
    started = time.perf_counter()
    while True:
        outcomes = [_outcome(rng, c) for c in claimed]
        began = time.perf_counter()
        claimed = delivery.advance(campaign_id, outcomes, turn).claimed
        committing = time.perf_counter()
        db.session.commit()
        ended = time.perf_counter()
        times.append((ended - began) * 1000)
        commits.append((ended - committing) * 1000)
        if not claimed and not outcomes:
            break
    seconds = time.perf_counter() - started
    cpu = _tree_seconds(postmaster) - cpu_before
    dead = {table: n - before[table] for table, n in _dead().items()}
    print(
        f"  turns of {turn}: {CAMPAIGN:,} recipients in {seconds:.2f} s ({CAMPAIGN / seconds:,.0f} /s), "
        f"{len(times):,} turns: p50 {percentile(times, 50):.2f} ms, p95 {percentile(times, 95):.2f} ms, "
        f"mean {statistics.mean(times):.2f} ms, of which the commit {statistics.mean(commits):.2f} ms; "
        f"PostgreSQL's CPU {cpu / CAMPAIGN * 1e6:,.0f} µs a message ({cpu / len(times) * 1000:.2f} ms a turn); "
        "dead rows left: " + ", ".join(f"{table} {n:,}" for table, n in dead.items())
    )
    for calls, mean_ms, total_ms, rows, query in _statements():
        print(
            f"    {calls / len(times):5.2f} a turn, {mean_ms:6.3f} ms, {total_ms:8.1f} ms in all, "
            f"{rows:>7,} rows: {query}"
        )
    # With its pass over every index, as once dead rows are on more than 2 % of
    # the pages (autovacuum's threshold is 20 % of the rows): a VACUUM now
    # would skip that pass for so few.
    for table in TABLES:
        began = time.perf_counter()
        _maintain(f"VACUUM (INDEX_CLEANUP ON) {table}")
        print(f"  VACUUM (INDEX_CLEANUP ON) {table}: {time.perf_counter() - began:.2f} s")


def _campaign() -> int:
    campaign = drafts.create_campaign(f"{CAMPAIGN:,} measured", "email", "Hello", [], created_by=None)
    db.session.flush()
    db.session.execute(
        text(
            "INSERT INTO recipients (campaign_id, line, name, address, address_normalized) "
            "SELECT :id, n, 'M' || n, 'm' || n || '@example.com', 'm' || n || '@example.com' "
            "FROM generate_series(1, :count) AS n"
        ),
        {"id": campaign.id, "count": CAMPAIGN},
    )
    db.session.execute(
        text("UPDATE campaigns SET recipient_count = :count WHERE id = :id"), {"id": campaign.id, "count": CAMPAIGN}
    )
    db.session.commit()
    _maintain("ANALYZE recipients")
    return campaign.id


def _outcome(rng: random.Random, claimed: Claimed) -> Outcome:
    if rng.random() < FAILED:
        return Outcome(
            claimed.id,
            claimed.attempt,
            RecipientStatus.FAILED,
            error_code="invalid_address",
            error="Invalid address",
            kind="permanent",
        )
    return Outcome(claimed.id, claimed.attempt, RecipientStatus.SENT, message_id=f"sim-{claimed.id}")


def _dead() -> dict[str, int]:
    # A session's own counts reach the statistics at its next commit, once forced.
    db.session.execute(text("SELECT pg_stat_force_next_flush()"))
    db.session.commit()
    rows = db.session.execute(
        text("SELECT relname, n_dead_tup FROM pg_stat_user_tables WHERE relname = ANY(:tables)"),
        {"tables": list(TABLES)},
    ).all()
    db.session.commit()
    return {table: n for table, n in sorted(rows)}


def _statements() -> list[tuple[int, float, float, int, str]]:
    """The turns' statements, the most time first: calls, mean and total ms (planning and
    executing), rows, the query's start."""
    rows = db.session.execute(
        text(
            """
            SELECT calls, mean_plan_time + mean_exec_time, total_plan_time + total_exec_time, rows,
                   regexp_replace(query, '\\s+', ' ', 'g')
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND query NOT ILIKE '%pg_stat%' AND query NOT ILIKE 'VACUUM%' AND query NOT ILIKE 'ANALYZE%'
            ORDER BY total_plan_time + total_exec_time DESC LIMIT 14
            """
        )
    ).all()
    db.session.commit()
    return [(calls, mean, total, n, query[:90]) for calls, mean, total, n, query in rows]


def _sizes() -> str:
    found = db.session.execute(
        text(
            "SELECT relname, pg_relation_size(oid), pg_indexes_size(oid) FROM pg_class "
            "WHERE relname = ANY(:tables) ORDER BY relname DESC"
        ),
        {"tables": list(TABLES)},
    ).all()
    db.session.commit()
    return "; ".join(
        f"{name} {heap / 2**20:,.0f} MB + indexes {indexes / 2**20:,.0f} MB" for name, heap, indexes in found
    )


def _maintain(statement: str) -> None:
    """Outside the session's pool, so that its connection is left as the turns use it."""
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with contextlib.closing(psycopg2.connect(url)) as connection:
        connection.autocommit = True
        connection.cursor().execute(statement)


if __name__ == "__main__":
    raise SystemExit(main())
