"""The search figures (issue 15): a substring of a name in a
1,000,000-recipient campaign, and the campaign list's search over 10,000
campaigns, each timed over HTTP as the search box asks (htmx, for the block
it swaps), the first round left out as a warm-up. Rows come from set-based
SQL (generate_series), never a Python loop."""

import time
import urllib.parse

from sqlalchemy import text

from app.extensions import db
from bench.harness import Bench
from bench.measure import percentile, warm_then_time

FIRST = "ARRAY['Mary','John','Grace','Peter','Amina','Wanjiru','Otieno','Fatuma','Brian','Mercy','Kevin','Faith',"
FIRST += "'Daniel','Esther','James','Joyce','Samuel','Ruth','David','Lucy']"
LAST = "ARRAY['Kamau','Odhiambo','Mwangi','Ochieng','Njoroge','Kiprop','Mutua','Wambui','Achieng','Kariuki',"
LAST += "'Hopper','Lovelace','Turing','Smith','Jones','Brown']"
# 1,000,000 recipients: 20 first names × 16 surnames, one in 10,007 a rare
# surname; 65 % sent, 5 % failed, 5 % skipped, the rest queued; each with
# its own rendered text and a Kenyan number, typed with spaces (an SMS
# campaign: the start of a number is looked for among the numbers).
RECIPIENTS = f"""
INSERT INTO recipients (campaign_id, line, name, address, address_normalized, status, rendered_content)
SELECT :id, n,
  ({FIRST})[1 + n % 20] || ' ' || CASE WHEN n % 10007 = 0 THEN 'Zwelithini' ELSE ({LAST})[1 + (n / 20) % 16] END,
  '07' || substr(lpad(n::text, 8, '0'), 1, 2) || ' ' || substr(lpad(n::text, 8, '0'), 3, 3) || ' '
    || substr(lpad(n::text, 8, '0'), 6, 3),
  '+2547' || lpad(n::text, 8, '0'),
  CASE WHEN n % 20 = 0 THEN 'failed' WHEN n % 20 < 14 THEN 'sent' WHEN n % 20 = 14 THEN 'skipped' ELSE 'queued' END,
  'Hi ' || ({FIRST})[1 + n % 20] || ', your code is ' || substr(md5(n::text), 1, 6) || '. Reply STOP to opt out.'
FROM generate_series(1, :count) AS n
"""
COUNTERS = """
UPDATE campaigns SET channel = 'sms', status = 'sending', started_at = now(), recipient_count = :count,
  sent_count = :count * 13 / 20, failed_count = :count / 20, skipped_count = :count / 20
WHERE id = :id
"""
CAMPAIGNS = """
INSERT INTO campaigns (title, channel, message, status, recipient_count, sent_count, failed_count,
                       created_at, started_at, created_by_id)
SELECT (ARRAY['Spring sale','Clinic reminder','Flu shots','Payment due','Welcome','Summer promo','Survey',
              'Renewal'])[1 + n % 8] || ' ' || n,
  (ARRAY['email','sms','whatsapp'])[1 + n % 3],
  'Hello {first_name}, ' || (ARRAY['your appointment is tomorrow','our spring sale starts today',
    'please renew your plan','tell us how we did'])[1 + n % 4] || ' ' || md5(n::text),
  (ARRAY['draft','scheduled','sending','paused','completed','completed','completed','cancelled'])[1 + n % 8],
  100 + n % 1000, 90, n % 50, now() - (n || ' hours')::interval,
  CASE WHEN n % 8 > 1 THEN now() - (n || ' hours')::interval + interval '1 hour' END, :user_id
FROM generate_series(1, :count) AS n
"""


def _vacuum(table: str) -> None:
    """As autovacuum would by the time staff search: visibility map set, statistics fresh."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM ANALYZE {table}"))


def _figure(bench: Bench, key: str, label: str, block: str, paths: list[str]) -> None:
    """Time ``paths`` as the search box asks for ``block``; the p95 goes in results as ``key``."""
    headers = {"HX-Request": "true", "HX-Target": block}
    times = warm_then_time(lambda path: bench.timed(path, headers), paths, 5 if bench.quick else 25)
    p95 = percentile(times, 95)
    bench.results[key] = round(p95, 1)
    bench.row(
        key,
        f"{label}: p95",
        f"{p95:.0f} ms (p50 {percentile(times, 50):.0f} ms, range {times[0]:.0f}–{times[-1]:.0f} ms,"
        f" {len(times)} requests)",
    )


def recipients(bench: Bench) -> None:
    size = 100_000 if bench.quick else 1_000_000
    campaign_id = bench.campaign(0, "Search bench")
    with bench.app.app_context():
        started = time.perf_counter()
        db.session.execute(text(RECIPIENTS), {"id": campaign_id, "count": size})
        db.session.execute(text(COUNTERS), {"id": campaign_id, "count": size})
        db.session.commit()
        _vacuum("recipients")
        print(f"  ({size:,} recipients loaded and indexed in {time.perf_counter() - started:.0f} s)", flush=True)
    base = f"/campaigns/{campaign_id}"
    # Rare (99 matches), middling (~3,000), common (50,000+: the capped count
    # and the first page stop early), and each with a status tab.
    words = ["zwelith", "mary kam", "grace"]
    paths = [f"{base}?q={word.replace(' ', '+')}" for word in words]
    paths += [f"{base}?q={word.replace(' ', '+')}&status=failed" for word in words]
    label = f"search a name in a {size:,}-recipient campaign, with and without a status tab"
    _figure(bench, "search_recipients_p95_ms", label, "recipients", paths)
    # The start of a phone number, as dialled and as kept: 10,000, 100,000
    # and 100 numbers share these, pasted in order, so they sit together far
    # into the campaign, past where a walk in paste order looks for a page.
    starts = ["0700 12", "+2547001", "0700 456 7"]
    paths = [f"{base}?q={urllib.parse.quote_plus(start)}" for start in starts]
    paths += [f"{path}&status=failed" for path in paths]
    label = "search the start of a phone number in the same campaign"
    _figure(bench, "search_phone_start_p95_ms", label, "recipients", paths)


def campaigns(bench: Bench) -> None:
    count = 10_000
    with bench.app.app_context():
        user_id = db.session.execute(text("SELECT min(id) FROM users")).scalar()
        db.session.execute(text(CAMPAIGNS), {"count": count, "user_id": user_id})
        db.session.commit()
        _vacuum("campaigns")
        total = db.session.execute(text("SELECT count(*) FROM campaigns")).scalar()
    paths = [
        "/campaigns",
        "/campaigns?q=spring",
        "/campaigns?q=spring&status=completed",
        "/campaigns?q=renew&channel=sms&sort=failed",
        f"/campaigns?creator={user_id}&sort=largest&page=20",
        "/campaigns?q=e3f&dated=sent&since=2020-01-01",
    ]
    label = f"search and filter the campaign list, {total:,} campaigns"
    _figure(bench, "search_campaigns_p95_ms", label, "campaign-list", paths)
