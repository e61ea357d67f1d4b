"""Export CSV at size (issue 27): a 100,000-recipient campaign's file over
HTTP from the Procfile's web process, timed to its last byte; and a
1,000,000-recipient campaign's, read and dropped a chunk at a time, with the
web processes' resident memory sampled as it streams: its peak over what
they held before. The recipients are the search figures' (names, Kenyan
numbers, each with their own text), written by one INSERT … SELECT; both
campaigns are deleted afterwards, so the steps after read the table as they
found it."""

import statistics
import threading
import time

from sqlalchemy import text

from app.extensions import db
from bench.harness import Bench
from bench.measure import timed_request
from bench.search import COUNTERS, RECIPIENTS, _vacuum
from bench.stack import rss_mb

ROUNDS = 3
READ_BYTES = 256 * 1024


def exports(bench: Bench) -> None:
    small, large = (10_000, 100_000) if bench.quick else (100_000, 1_000_000)
    ids = [_campaign(bench, count) for count in (small, large)]
    with bench.app.app_context():
        _vacuum("recipients")
    try:
        _timed(bench, ids[0], small)
        _memory(bench, ids[1], large)
    finally:
        with bench.app.app_context():
            db.session.execute(text("DELETE FROM campaigns WHERE id = ANY(:ids)"), {"ids": ids})
            db.session.commit()
            _vacuum("recipients")


def _campaign(bench: Bench, count: int) -> int:
    campaign_id = bench.campaign(0, f"Export {count:,}")
    with bench.app.app_context():
        db.session.execute(text(RECIPIENTS), {"id": campaign_id, "count": count})
        db.session.execute(text(COUNTERS), {"id": campaign_id, "count": count})
        db.session.commit()
    return campaign_id


def _path(campaign_id: int) -> str:
    return f"/campaigns/{campaign_id}/recipients.csv"


def _timed(bench: Bench, campaign_id: int, count: int) -> None:
    url = bench.http.base_url + _path(campaign_id)
    timed_request(url, opener=bench.http.opener)  # a warm-up, left out
    answers = [timed_request(url, opener=bench.http.opener) for _ in range(ROUNDS)]
    lines = answers[0].body.count(b"\n")
    assert lines == count + 1, f"the file has {lines} lines for {count:,} recipients"
    seconds = sorted(answer.ms / 1000 for answer in answers)
    median = statistics.median(seconds)
    bench.results["export_100k_s"] = round(median, 2)
    size = len(answers[0].body) / 2**20
    bench.row(
        "export_100k_s",
        f"Export CSV of a {count:,}-recipient campaign over HTTP, to the last byte ({size:.0f} MB)",
        f"{median:.2f} s (median of {ROUNDS}, range {seconds[0]:.2f}–{seconds[-1]:.2f} s)",
    )


def _memory(bench: Bench, campaign_id: int, count: int) -> None:
    """The file read and dropped as it comes, the web processes' RSS sampled every 50 ms meanwhile."""
    before = rss_mb(bench.web)
    peak = before
    streaming = True

    def sample() -> None:
        nonlocal peak
        while streaming:
            peak = max(peak, rss_mb(bench.web))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    lines = 0
    try:
        with bench.http.opener.open(bench.http.base_url + _path(campaign_id), timeout=600) as answer:
            while chunk := answer.read(READ_BYTES):
                lines += chunk.count(b"\n")
    finally:
        streaming = False
        sampler.join()
    seconds = time.perf_counter() - started
    assert lines == count + 1, f"the file has {lines} lines for {count:,} recipients"
    growth = max(peak - before, 0.0)
    bench.results["export_rss_growth_mb"] = round(growth, 1)
    bench.row(
        "export_rss_growth_mb",
        f"web processes' memory while exporting {count:,} recipients (in {seconds:.0f} s): peak over before",
        f"{growth:.1f} MB ({before:.0f} MB before, {peak:.0f} MB at the peak)",
    )
