"""The Operations page (issue 26) with 10,000 campaigns (the campaign-list
search's, made by the step before) and 1,000,000 provider calls: a tenth of
them in the last hour, the rest over the 30 days before, written in time
order as the send path writes them. Timed over HTTP as an admin opens it;
and again "cold", with what the page keeps of each past minute in Redis
dropped before every request, so each reads the whole hour from the table."""

from sqlalchemy import text

from app.audit import Via
from app.auth.models import Role
from app.campaigns import outcomes
from app.extensions import db, redis
from app.users import staff
from bench.harness import PASSWORD, Bench
from bench.measure import percentile, timed_request, warm_then_time
from bench.search import _vacuum
from devtools.client import Browser

ADMIN = "bench-admin@example.com"
CODES = "ARRAY['timeout','throttled','provider_error','invalid_address','opted_out','rejected_content']"
# One call in 12 fails (the first three codes are transient, the others
# permanent), one in 50 is a worker that stopped; every tenth is in the last hour.
ATTEMPTS = f"""
INSERT INTO delivery_attempts (campaign_id, recipient_id, attempt, started_at, finished_at, outcome, error_code)
SELECT 1 + n % 10000, n, 1, at - interval '1 second', at,
  CASE WHEN n % 50 = 0 THEN 'lease_expired' WHEN n % 12 = 0 THEN
    CASE WHEN n % 6 < 3 THEN 'transient' ELSE 'permanent' END ELSE 'sent' END,
  CASE WHEN n % 50 <> 0 AND n % 12 = 0 THEN ({CODES})[1 + n % 6] END
FROM (
  SELECT n, CASE WHEN n % 10 = 0 THEN now() - (n % 3600) * interval '1 second'
                 ELSE now() - interval '1 hour' - (n % 2592000) * interval '1 second' END AS at
  FROM generate_series(1, :count) AS n
) AS calls
ORDER BY at
"""


def operations_page(bench: Bench, _campaigns: None) -> None:
    """``_campaigns``: what the campaign-list search step gives (nothing; it made the campaigns)."""
    count = 100_000 if bench.quick else 1_000_000
    with bench.app.app_context():
        staff.add(ADMIN, Role.ADMIN, PASSWORD, actor=None, via=Via.COMMAND_LINE)
        db.session.execute(text(ATTEMPTS), {"count": count})
        db.session.commit()
        _vacuum("delivery_attempts")
        campaigns = db.session.execute(text("SELECT count(*) FROM campaigns")).scalar()
        # With those the steps before made: a full run sends a few hundred thousand more.
        last_hour = db.session.execute(
            text("SELECT count(*) FROM delivery_attempts WHERE finished_at >= now() - interval '1 hour'")
        ).scalar()
    admin = Browser(bench.http.base_url, ADMIN, PASSWORD)
    rounds = 5 if bench.quick else 25

    def timed(path: str) -> float:
        return timed_request(admin.base_url + path, None, None, admin.opener).ms

    def cold(path: str) -> float:
        with bench.app.app_context():
            redis.client.delete(outcomes.CACHE_KEY)
        return timed(path)

    paths = ["/operations", "/campaigns/now"]
    times = warm_then_time(timed, paths, rounds)
    p95 = percentile(times, 95)
    bench.results["ops_page_p95_ms"] = round(p95, 1)
    sizes = f"{campaigns:,} campaigns, {count:,} calls"
    bench.row(
        "ops_page_p95_ms",
        f"the Operations page and its campaigns block, {sizes}: p95",
        _said(times),
    )
    times = warm_then_time(cold, ["/operations"], rounds)
    p95 = percentile(times, 95)
    bench.results["ops_page_cold_p95_ms"] = round(p95, 1)
    bench.row(
        "ops_page_cold_p95_ms",
        f"the same page with nothing kept of the last hour ({last_hour:,} calls read from the table): p95",
        _said(times),
    )


def _said(times: list[float]) -> str:
    return (
        f"{percentile(times, 95):.0f} ms (p50 {percentile(times, 50):.0f} ms,"
        f" range {times[0]:.0f}–{times[-1]:.0f} ms, {len(times)} requests)"
    )
