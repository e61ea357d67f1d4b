"""The million's send, watched (``bench.million``): Start over HTTP, a STOP
reply from one recipient in STOP_EVERY arriving as it sends (their claims
skip them), a browser on the campaign's middle page, a stream per page on
STREAMS pages spread over the campaign (each naming its page's recipients, as
a page's own stream does), and the campaign's page, tabs and search asked for
over HTTP until every recipient is terminal."""

import time
from contextlib import ExitStack
from dataclasses import dataclass

from sqlalchemy import text

from app.extensions import db
from app.live.broker import shows_param
from app.optouts import registry as opt_outs
from app.optouts.models import Source
from bench.browser import live_page
from bench.harness import PASSWORD, USER, Bench
from devtools import chromium
from devtools.client import StreamListener

STREAMS = 10
# One recipient in this many replies STOP after Start, among the last tenth of the campaign.
STOP_EVERY = 1_000
PAGE_PAUSE_SECONDS = 0.2
# The last updates follow the completing commit within an interval (200 ms); a browser applies them.
SETTLE_UPDATES_SECONDS = 1.5
SEND_DEADLINE_SECONDS = 3_600
SETTLE_SECONDS = 120
POLL_SECONDS = 0.1
# When each recipient's status badge first turned final on the page, in Unix milliseconds.
FINAL_BADGES = """
window.__final = {};
new MutationObserver(function (records) {
  var now = performance.timeOrigin + performance.now();
  var FINAL = /\\bbadge-(sent|failed|skipped|cancelled)\\b/;
  records.forEach(function (record) {
    record.addedNodes.forEach(function (node) {
      if (node.nodeType !== 1) return;
      var spans = node.matches('span.status[id^="recipient-"]') ? [node]
        : node.querySelectorAll('span.status[id^="recipient-"]');
      Array.prototype.forEach.call(spans, function (span) {
        var badge = span.querySelector(".badge");
        var id = span.id.split("-")[1];
        if (badge && FINAL.test(badge.className) && !(id in window.__final)) window.__final[id] = now;
      });
    });
  });
}).observe(document, {childList: true, subtree: true});
"""


@dataclass
class Sent:
    recipients: int
    dispatch_s: float  # Start committed → the last recipient committed, from the database
    completed_at: float  # Unix time the campaign completed (its row's finished_at)
    stopped: int  # recipients who replied STOP while it sent
    skipped: int
    page_ms: list[float]
    live_ms: list[float]  # committed → final badge on a page stream, over every stream
    watched: int  # recipients the page streams showed
    browser_ms: list[float]
    browser_page: int
    bytes_per_s: list[float]  # each page stream's, while it sent


def send_watched(bench: Bench, campaign_id: int, size: int) -> Sent:
    per_page = bench.app.config["RECIPIENTS_PER_PAGE"]
    last_page = max(1, -(-size // per_page))
    pages = sorted({1 + round(k * (last_page - 1) / (STREAMS - 1)) for k in range(STREAMS)})
    shown = {page: _page_ids(bench, campaign_id, page, per_page) for page in pages}
    middle = pages[len(pages) // 2]
    asks = _asks(campaign_id, middle)
    with ExitStack() as watching:
        streams = {
            page: watching.enter_context(StreamListener(bench.http, campaign_id, shows_param(ids)))
            for page, ids in shown.items()
        }
        browser = None
        if chromium.available():
            browser = watching.enter_context(
                live_page(bench.http.base_url, USER, PASSWORD, f"/campaigns/{campaign_id}?page={middle}", FINAL_BADGES)
            )
        before = {page: stream.bytes for page, stream in streams.items()}
        began = time.monotonic()
        bench.http.start(campaign_id)
        stopped = _stop_some(bench, campaign_id, size)
        page_ms = _asked_until_completed(bench, campaign_id, asks)
        sending_s = time.monotonic() - began
        received = {page: stream.bytes - before[page] for page, stream in streams.items()}
        time.sleep(SETTLE_UPDATES_SECONDS)
        final = browser.evaluate("window.__final") if browser is not None else {}
    recipients, dispatch_s, completed_at, skipped = _timed(bench, campaign_id)
    committed = _committed(bench, campaign_id, [ids for ids in shown.values()])
    live_ms = sorted(
        (stream.terminal_at[rid] - committed[rid]) * 1000
        for page, stream in streams.items()
        for rid in shown[page]
        if rid in stream.terminal_at and rid in committed
    )
    browser_ms = sorted((at / 1000 - committed[int(rid)]) * 1000 for rid, at in final.items() if int(rid) in committed)
    return Sent(
        recipients,
        dispatch_s,
        completed_at,
        stopped,
        skipped,
        page_ms,
        live_ms,
        sum(len(ids) for ids in shown.values()),
        browser_ms,
        middle,
        [count / sending_s for count in received.values()],
    )


def _page_ids(bench: Bench, campaign_id: int, page: int, per_page: int) -> list[int]:
    """The recipients the unfiltered page ``page`` shows (pages go by id)."""
    with bench.app.app_context():
        ids = db.session.scalars(
            text("SELECT id FROM recipients WHERE campaign_id = :id ORDER BY id OFFSET :skip LIMIT :count"),
            {"id": campaign_id, "skip": (page - 1) * per_page, "count": per_page},
        ).all()
        db.session.commit()
    return list(ids)


def _asks(campaign_id: int, deep_page: int) -> list[tuple[str, dict[str, str] | None]]:
    """The page whole, then what its tabs, pager and search box ask for (htmx, for the recipients block)."""
    base = f"/campaigns/{campaign_id}"
    block = {"HX-Request": "true", "HX-Target": "recipients"}
    tabs = [f"{base}?status={status}" for status in ("sent", "failed", "queued", "skipped")]
    # Rare (one in 10,007), middling (one in 320) and common (one in 20) parts of a name.
    searches = [f"{base}?q=zwelith", f"{base}?q=mary+kam", f"{base}?q=grace", f"{base}?q=grace&status=failed"]
    return [(base, None)] + [(path, block) for path in (*tabs, f"{base}?page={deep_page}", *searches)]


def _stop_some(bench: Bench, campaign_id: int, size: int) -> int:
    """One recipient in STOP_EVERY, spread over the last tenth of the
    campaign (not yet claimed), opts out as a STOP reply does: their claims
    are to skip them. How many opted out."""
    count = max(1, size // STOP_EVERY)
    tenth = max(1, size // 10)
    with bench.app.app_context():
        addresses = db.session.scalars(
            text(
                "SELECT address_normalized FROM (SELECT address_normalized, row_number() OVER (ORDER BY id DESC) AS n "
                "FROM recipients WHERE campaign_id = :id ORDER BY id DESC LIMIT :tenth) AS last "
                "WHERE n % :step = 0 LIMIT :count"
            ),
            {"id": campaign_id, "tenth": tenth, "step": max(1, tenth // count), "count": count},
        ).all()
        added = opt_outs.add_many(
            [("sms", address) for address in addresses], Source.REPLY, note="STOP replied while it sent"
        )
        db.session.commit()
    return added


def _asked_until_completed(bench: Bench, campaign_id: int, asks: list) -> list[float]:
    """Ask for the pages in turn, PAGE_PAUSE_SECONDS apart, until the campaign completes; each one's time."""
    times = []
    deadline = time.monotonic() + SEND_DEADLINE_SECONDS
    with bench.app.app_context():
        while (status := _status(campaign_id)) != "completed":
            if status != "sending" or time.monotonic() > deadline:
                raise RuntimeError(f"campaign {campaign_id} is {status} after {len(times)} page requests")
            path, headers = asks[len(times) % len(asks)]
            times.append(bench.timed(path, headers))
            time.sleep(PAGE_PAUSE_SECONDS)
    return times


def _status(campaign_id: int) -> str:
    status = db.session.scalar(text("SELECT status FROM campaigns WHERE id = :id"), {"id": campaign_id})
    db.session.commit()
    return status


def _timed(bench: Bench, campaign_id: int) -> tuple[int, float, float, int]:
    """Recipients, Start committed → the last committed (s), when it
    completed (Unix time), and how many were skipped."""
    with bench.app.app_context():
        row = db.session.execute(
            text(
                "SELECT c.recipient_count, extract(epoch FROM max(r.finished_at) - c.started_at), "
                "extract(epoch FROM c.finished_at), c.skipped_count "
                "FROM campaigns AS c JOIN recipients AS r ON r.campaign_id = c.id WHERE c.id = :id GROUP BY c.id"
            ),
            {"id": campaign_id},
        ).one()
        db.session.commit()
    return row[0], float(row[1]), float(row[2]), row[3]


def _committed(bench: Bench, campaign_id: int, pages: list[list[int]]) -> dict[int, float]:
    """When each recipient of these pages was committed terminal (its ``finished_at``, Unix time)."""
    ids = [rid for page in pages for rid in page]
    with bench.app.app_context():
        rows = db.session.execute(
            text(
                "SELECT id, extract(epoch FROM finished_at) FROM recipients "
                "WHERE campaign_id = :id AND id = ANY(:ids) AND finished_at IS NOT NULL"
            ),
            {"id": campaign_id, "ids": ids},
        ).all()
        db.session.commit()
    return {rid: float(at) for rid, at in rows}


def receipts_settled(bench: Bench, campaign_id: int, completed_at: float) -> float | None:
    """Seconds from the campaign's completion (Unix time) until its delivered
    and undelivered counts add up to its sent count (the receipts process and
    reconciler running); None if they did not within SETTLE_SECONDS more."""
    started = time.monotonic()
    with bench.app.app_context():
        while True:
            sent, receipted = db.session.execute(
                text("SELECT sent_count, delivered_count + undelivered_count FROM campaigns WHERE id = :id"),
                {"id": campaign_id},
            ).one()
            db.session.commit()
            if sent == receipted:
                return time.time() - completed_at
            if time.monotonic() - started > SETTLE_SECONDS:
                print(f"  !! {receipted:,} of {sent:,} receipts applied {SETTLE_SECONDS} s after it completed")
                return None
            time.sleep(POLL_SECONDS)
