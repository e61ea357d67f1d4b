"""After the million's send (``bench.million``), every process stopped: the
invariants the fault tests check (tests/helpers.py), checked by the run
itself, a batch of rows at a time; and what its rows take on disk once
autovacuum has had its chance."""

import time
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import text

from app.campaigns.models import Campaign, RecipientStatus, idempotency_key
from app.extensions import db
from bench.harness import Bench
from jobs.provider import LEDGER_PREFIX

R = RecipientStatus
TERMINAL = (R.SENT.value, R.FAILED.value, R.CANCELLED.value, R.SKIPPED.value)
BATCH = 10_000
TABLES = ("recipients", "delivery_attempts")
# From the campaign's completion: autovacuum_naptime is a minute (each table
# is looked at within one), and vacuuming takes a while.
AUTOVACUUM_WAIT_SECONDS = 90


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    said: str


def check(bench: Bench, campaign_id: int, receipts_settled: bool, stopped: int) -> list[Check]:
    """``stopped``: the recipients who replied STOP while it sent, each to be skipped by their claim."""
    started = time.perf_counter()
    with bench.app.app_context():
        checks = [
            _all_terminal(campaign_id),
            _counters_equal_rows(campaign_id),
            _attempts_logged(campaign_id),
            _one_message_per_sent(campaign_id, Redis.from_url(bench.redis_url)),
            _receipts_add_up(campaign_id, receipts_settled),
            _skipped_opted_out(campaign_id, stopped),
        ]
        db.session.commit()
    print(f"  (invariants checked in {time.perf_counter() - started:.0f} s)", flush=True)
    return checks


def _all_terminal(campaign_id: int) -> Check:
    left = dict(
        db.session.execute(
            text(
                "SELECT status, count(*) FROM recipients WHERE campaign_id = :id AND status <> ALL(:terminal) "
                "GROUP BY status"
            ),
            {"id": campaign_id, "terminal": list(TERMINAL)},
        ).all()
    )
    return Check("every recipient terminal", not left, f"not terminal: {left or 'none'}")


def _counters_equal_rows(campaign_id: int) -> Check:
    """The campaign row's counters against its recipients counted (tests/helpers.py's assert_counters_match_rows)."""
    campaign = db.session.get_one(Campaign, campaign_id)
    rows = dict(
        db.session.execute(
            text("SELECT status, count(*) FROM recipients WHERE campaign_id = :id GROUP BY status"), {"id": campaign_id}
        ).all()
    )
    permanent, delivered, undelivered = db.session.execute(
        text(
            "SELECT count(*) FILTER (WHERE status = 'failed' AND error_kind = 'permanent'), "
            "count(*) FILTER (WHERE delivery = 'delivered'), count(*) FILTER (WHERE delivery = 'undelivered') "
            "FROM recipients WHERE campaign_id = :id"
        ),
        {"id": campaign_id},
    ).one()
    counted = {status.value: campaign.count_for(status) for status in R} | {
        "all": campaign.recipient_count,
        "failed permanently": campaign.failed_permanent_count,
        "delivered": campaign.delivered_count,
        "undelivered": campaign.undelivered_count,
    }
    found = {status.value: rows.get(status.value, 0) for status in R} | {
        "all": sum(rows.values()),
        "failed permanently": permanent,
        "delivered": delivered,
        "undelivered": undelivered,
    }
    wrong = {name: (counted[name], found[name]) for name in counted if counted[name] != found[name]}
    said = f"counter ≠ rows: {wrong}" if wrong else ", ".join(f"{name} {n:,}" for name, n in found.items() if n)
    return Check("counters equal rows", not wrong, said)


def _attempts_logged(campaign_id: int) -> Check:
    """Each recipient's attempts are logged, one each, and none is logged as sent twice."""
    logged, wrong, twice = db.session.execute(
        text(
            """
            SELECT coalesce(sum(a.calls), 0), count(*) FILTER (WHERE coalesce(a.calls, 0) <> r.attempts),
                   count(*) FILTER (WHERE a.sent > 1)
            FROM recipients AS r
            LEFT JOIN (
                SELECT recipient_id, count(*) AS calls, count(*) FILTER (WHERE outcome = 'sent') AS sent
                FROM delivery_attempts WHERE campaign_id = :id GROUP BY recipient_id
            ) AS a ON a.recipient_id = r.id
            WHERE r.campaign_id = :id
            """
        ),
        {"id": campaign_id},
    ).one()
    said = f"{logged:,} attempts logged; {wrong:,} recipients whose count differs, {twice:,} logged as sent twice"
    return Check("every attempt logged, none sent twice", not wrong and not twice, said)


def _one_message_per_sent(campaign_id: int, ledger: Redis) -> Check:
    """The simulated provider's ledger, key by key: one message, delivered
    once, under the id recorded, for each recipient marked sent; none for a
    failed or skipped one."""
    checked = missing = other_id = twice = unsent_delivered = 0
    result = db.session.execute(
        text("SELECT id, status, provider_message_id FROM recipients WHERE campaign_id = :id ORDER BY id"),
        {"id": campaign_id},
        execution_options={"yield_per": BATCH},
    )
    for batch in result.partitions():
        with ledger.pipeline(transaction=False) as pipe:
            for rid, _, _ in batch:
                pipe.hmget(LEDGER_PREFIX + idempotency_key(rid), "message_id", "deliveries")
            entries = pipe.execute()
        for (_, status, message_id), (known, deliveries) in zip(batch, entries, strict=True):
            checked += 1
            twice += deliveries is not None and deliveries != b"1"
            if status == R.SENT:
                missing += known is None
                other_id += known is not None and known.decode() != message_id
            elif status in (R.FAILED, R.SKIPPED):
                unsent_delivered += known is not None
    said = (
        f"{checked:,} recipients: {missing:,} sent with no message, {other_id:,} under another id, "
        f"{twice:,} delivered twice, {unsent_delivered:,} failed or skipped yet delivered"
    )
    passed = not (missing or other_id or twice or unsent_delivered)
    return Check("one provider message per sent recipient", passed, said)


def _receipts_add_up(campaign_id: int, settled: bool) -> Check:
    sent, delivered, undelivered = db.session.execute(
        text("SELECT sent_count, delivered_count, undelivered_count FROM campaigns WHERE id = :id"), {"id": campaign_id}
    ).one()
    said = f"{delivered:,} delivered + {undelivered:,} undelivered of {sent:,} sent"
    return Check("receipts add up to the sent", settled and delivered + undelivered == sent, said)


def _skipped_opted_out(campaign_id: int, stopped: int) -> Check:
    skipped, not_opted = db.session.execute(
        text(
            "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS "
            "(SELECT 1 FROM opt_outs AS o WHERE o.channel = c.channel AND o.address = r.address_normalized)) "
            "FROM recipients AS r JOIN campaigns AS c ON c.id = r.campaign_id "
            "WHERE r.campaign_id = :id AND r.status = 'skipped'"
        ),
        {"id": campaign_id},
    ).one()
    said = f"{stopped:,} replied STOP while it sent, {skipped:,} skipped, {not_opted:,} of them not opted out"
    return Check("those who replied STOP skipped, and only they", skipped == stopped and not not_opted, said)


@dataclass(frozen=True)
class Storage:
    bytes: dict[str, int]  # each table's pg_total_relation_size
    dead: dict[str, int]
    live: dict[str, int]
    vacuumed: dict[str, bool]  # autovacuum ran on the table after the campaign completed
    after_s: float  # read this long after the campaign completed
    recipients: int
    parts: dict[str, int]  # each table's rows, TOAST and index by name, largest first

    @property
    def bytes_per_recipient(self) -> float:
        return sum(self.bytes.values()) / self.recipients

    @property
    def dead_tuples(self) -> int:
        return sum(self.dead.values())

    def said(self) -> str:
        """Each part's bytes per recipient, largest first."""
        return ", ".join(f"{name} {size / self.recipients:,.0f}" for name, size in self.parts.items()) + (
            f"; {self.recipients:,} recipients"
        )

    def dead_said(self) -> str:
        return (
            f"{self.dead_tuples:,} ("
            + "; ".join(
                f"{table} {self.dead[table]:,} dead of {self.live[table]:,} live, "
                f"{'autovacuumed' if self.vacuumed[table] else 'not autovacuumed'} since it completed"
                for table in TABLES
            )
            + f"; read {self.after_s:.0f} s after it completed, no VACUUM before)"
        )


def storage(bench: Bench, completed_at: float) -> Storage:
    """Once autovacuum has been through both tables since the campaign
    completed (Unix time), or AUTOVACUUM_WAIT_SECONDS after it did: their
    size, and the dead rows they still hold. Nothing is vacuumed before
    they are read."""
    with bench.app.app_context():
        while True:
            rows = db.session.execute(
                text(
                    "SELECT relname, n_dead_tup, n_live_tup, coalesce(extract(epoch FROM last_autovacuum), 0) "
                    "FROM pg_stat_user_tables WHERE relname = ANY(:tables)"
                ),
                {"tables": list(TABLES)},
            ).all()
            db.session.commit()
            vacuumed = {table: float(at) >= completed_at for table, _, _, at in rows}
            if all(vacuumed.values()) or time.time() - completed_at > AUTOVACUUM_WAIT_SECONDS:
                break
            time.sleep(1)
        sizes = dict(
            db.session.execute(
                text("SELECT t, pg_total_relation_size(t::regclass) FROM unnest(CAST(:tables AS text[])) AS t"),
                {"tables": list(TABLES)},
            ).all()
        )
        recipients = db.session.scalar(text("SELECT count(*) FROM recipients"))
        parts = dict(db.session.execute(text(PARTS), {"tables": list(TABLES)}).all())
        db.session.commit()
    return Storage(
        sizes,
        {table: dead for table, dead, _, _ in rows},
        {table: live for table, _, live, _ in rows},
        vacuumed,
        time.time() - completed_at,
        recipients,
        parts,
    )


# What pg_total_relation_size adds up: each table's rows, its TOAST (with its index) and each index.
PARTS = """
SELECT name, size FROM (
    SELECT relname || ' rows' AS name, pg_relation_size(relid) AS size FROM pg_stat_user_tables
    WHERE relname = ANY(:tables)
    UNION ALL
    SELECT relname || ' TOAST', pg_total_relation_size(relid) - pg_relation_size(relid) - pg_indexes_size(relid)
    FROM pg_stat_user_tables WHERE relname = ANY(:tables)
    UNION ALL
    SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes WHERE relname = ANY(:tables)
) AS parts ORDER BY size DESC
"""
