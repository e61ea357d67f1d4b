"""The dashboard (issue 27) with 1,000,000 recipients sent over the last 30
days: 300 campaigns, ten a day on the three channels, each sent over two
hours; 90 % of recipients sent, 5 % failed (six codes), 5 % skipped, and one
call in 20 retried. Their hourly rollup is counted from them as the send path
would have counted it, by one INSERT … SELECT; the page is timed over HTTP as
the bench's signed-in person opens it: 30 days, then 7 and 90."""

import time

from sqlalchemy import text

from app.extensions import db
from bench.harness import Bench
from bench.measure import percentile, warm_then_time
from bench.search import _vacuum

CAMPAIGNS = 300
CODES = "ARRAY['timeout','throttled','provider_error','invalid_address','opted_out','rejected_content']"
SENT_CAMPAIGNS = """
INSERT INTO campaigns (title, channel, message, status, recipient_count, sent_count, failed_count, skipped_count,
                       created_at, started_at, estimated_cost)
SELECT 'Dashboard bench ' || k, (ARRAY['sms','whatsapp','email'])[1 + k % 3], 'Hello', 'completed',
  :per, :per * 9 / 10, :per / 20, :per / 20, at - interval '1 hour', at, :per * 0.005
FROM (SELECT k, now() - interval '30 days' + k * interval '144 minutes' AS at
      FROM generate_series(0, :campaigns - 1) AS k) AS started
RETURNING id
"""
# Each campaign's recipients finish over its two hours after it started.
RECIPIENTS = f"""
INSERT INTO recipients (campaign_id, line, name, address, address_normalized, status, attempts, error_code,
                        finished_at)
SELECT c.id, n, 'P' || n, 'd' || n || '@example.com', 'd' || n || '@example.com',
  CASE WHEN n % 20 = 0 THEN 'failed' WHEN n % 20 = 1 THEN 'skipped' ELSE 'sent' END, 1,
  CASE WHEN n % 20 = 0 THEN ({CODES})[1 + n / 20 % 6] WHEN n % 20 = 1 THEN 'opted_out' END,
  c.started_at + (n % 7200) * interval '1 second'
FROM campaigns c, generate_series(1, :per) AS n
WHERE c.id = ANY(:ids)
"""
# As app.campaigns.rollup counts them: an outcome per recipient, and a
# "retrying" for every 20th sent recipient's first, failed, call.
ROLLUP = """
INSERT INTO hourly_outcomes (hour, channel, outcome, error_code, messages)
SELECT hour, channel, outcome, error_code, sum(messages) FROM (
  SELECT date_trunc('hour', r.finished_at) AS hour, c.channel, r.status AS outcome,
         coalesce(r.error_code, '') AS error_code, count(*) AS messages
  FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
  WHERE c.id = ANY(:ids) GROUP BY 1, 2, 3, 4
  UNION ALL
  SELECT date_trunc('hour', r.finished_at), c.channel, 'retrying', 'timeout', count(*)
  FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
  WHERE c.id = ANY(:ids) AND r.status = 'sent' AND r.line % 20 = 2 GROUP BY 1, 2
) AS counted
GROUP BY 1, 2, 3, 4
ON CONFLICT (hour, channel, outcome, error_code) DO UPDATE SET messages = hourly_outcomes.messages + excluded.messages
"""


def dashboard(bench: Bench) -> None:
    size = 100_000 if bench.quick else 1_000_000
    per = size // CAMPAIGNS
    with bench.app.app_context():
        started = time.perf_counter()
        ids = list(db.session.scalars(text(SENT_CAMPAIGNS), {"per": per, "campaigns": CAMPAIGNS}))
        db.session.execute(text(RECIPIENTS), {"per": per, "ids": ids})
        db.session.execute(text(ROLLUP), {"ids": ids})
        db.session.commit()
        for table in ("campaigns", "recipients", "hourly_outcomes"):
            _vacuum(table)
        hours = db.session.execute(text("SELECT count(*) FROM hourly_outcomes")).scalar()
        print(f"  ({per * CAMPAIGNS:,} recipients loaded in {time.perf_counter() - started:.0f} s)", flush=True)
    times = warm_then_time(bench.timed, ["/", "/?days=7", "/?days=90"], 5 if bench.quick else 25)
    p95 = percentile(times, 95)
    bench.results["dashboard_p95_ms"] = round(p95, 1)
    bench.row(
        "dashboard_p95_ms",
        f"the dashboard, {per * CAMPAIGNS:,} recipients sent over 30 days ({hours:,} hourly rows): 30, 7 and 90 "
        "days, p95",
        f"{p95:.0f} ms (p50 {percentile(times, 50):.0f} ms, range {times[0]:.0f}–{times[-1]:.0f} ms,"
        f" {len(times)} requests)",
    )
