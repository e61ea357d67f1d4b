"""A pasted recipient list stored (``imports``), and the page of the large
campaign it made, part-way through a send (``pages``). These run first, on a
database not yet busy vacuuming the sends' updates."""

import time

from sqlalchemy import text

from app.campaigns.models import Campaign
from app.extensions import db
from bench.harness import PASSWORD, USER, Bench
from bench.measure import percentile, warm_then_time


def imports(bench: Bench) -> int:
    """The larger paste's campaign, for ``pages``."""
    sizes = (1_000, 10_000) if bench.quick else (10_000, 100_000)
    campaign_id = 0
    for size, key in zip(sizes, ("import_10k_s", "import_100k_s"), strict=True):
        seconds, campaign_id = _time_paste(bench, size)
        bench.results[key] = round(seconds, 3)
        bench.row(key, f"store a {size:,}-line paste (POST /campaigns/new)", f"{seconds:.2f} s")
    return campaign_id


def _time_paste(bench: Bench, size: int) -> tuple[float, int]:
    paste = "\n".join(f"Person {i}, person{i}@example.com" for i in range(size))
    client = bench.app.test_client()
    signed_in = client.post("/sign-in", data={"email": USER, "password": PASSWORD})
    assert signed_in.status_code == 302, "the benchmark's operator could not sign in"
    started = time.perf_counter()
    response = client.post(
        "/campaigns/new",
        data={"title": f"{size:,} pasted", "channel": "email", "message": "Hello", "recipients": paste},
    )
    seconds = time.perf_counter() - started
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return seconds, int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def pages(bench: Bench, campaign_id: int) -> None:
    """A large campaign's page and status-filtered pages over HTTP, part-way through a send."""
    with bench.app.app_context():
        # As if it were part-way through: 60 % sent, 5 % failed, the rest queued.
        db.session.execute(
            text(
                "UPDATE recipients SET status = CASE WHEN id % 20 = 0 THEN 'failed' WHEN id % 20 < 13 THEN 'sent' "
                "ELSE 'queued' END WHERE campaign_id = :id"
            ),
            {"id": campaign_id},
        )
        db.session.execute(
            text(
                "UPDATE campaigns SET status = 'sending', started_at = now(), "
                "sent_count = (SELECT count(*) FROM recipients WHERE campaign_id = :id AND status = 'sent'), "
                "failed_count = (SELECT count(*) FROM recipients WHERE campaign_id = :id AND status = 'failed') "
                "WHERE id = :id"
            ),
            {"id": campaign_id},
        )
        db.session.execute(text("ANALYZE recipients"))
        db.session.commit()
        size = db.session.get(Campaign, campaign_id).recipient_count
    paths = [
        f"/campaigns/{campaign_id}",
        f"/campaigns/{campaign_id}?status=failed",
        f"/campaigns/{campaign_id}?status=sent&page=50",
        f"/campaigns/{campaign_id}?page=200",
    ]
    times = warm_then_time(bench.timed, paths, 10 if bench.quick else 50)
    p95 = percentile(times, 95)
    bench.results["page_p95_ms"] = round(p95, 1)
    bench.row(
        "page_p95_ms",
        f"campaign page + status-filtered pages, {size:,} recipients: p95",
        f"{p95:.0f} ms (p50 {percentile(times, 50):.0f} ms)",
    )
