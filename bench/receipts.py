"""Delivery receipts at size (issue 28): a burst of 100,000 receipts for one
campaign's sent messages, posted as the provider would (signed, 1,000 a
request, from a few threads) to the Procfile's web process, and applied by
its reconciler: first POST → the campaign's delivered and undelivered
counts adding up to the burst, read from its row every 50 ms. Each round
has a campaign of its own, written by one INSERT … SELECT as already sent
(a provider message id each) and vacuumed as autovacuum would have; they
are deleted afterwards, so the steps after read the tables as they found
them."""

import json
import statistics
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial

from redis import Redis
from sqlalchemy import text

from app import heartbeats
from app.extensions import db
from app.signing import headers as signed
from bench.harness import NO_LATENCY, RECEIPTS_SECRET, Bench
from bench.search import _vacuum
from bench.stack import Periodic
from bench.throughput import NO_OPT_OUTS, WARM_UP
from bench.throughput import _vacuum as vacuum_all
from jobs.provider import RECEIPTS_DUE

ROUNDS = 3
PER_REQUEST = 1000
THREADS = 4
POLL_SECONDS = 0.05
DEADLINE_SECONDS = 600
PATH = "/webhooks/provider/status"
# Sent an hour ago, as one sending of an SMS campaign: nothing is left for a worker or the reconciler to do.
RECIPIENTS = """
INSERT INTO recipients (campaign_id, line, name, address, address_normalized, status, attempts,
                        provider_message_id, finished_at)
SELECT :id, n, 'P' || n, '07' || lpad(n::text, 8, '0'), '+2547' || lpad(n::text, 8, '0'), 'sent', 1,
  'sim-sms-' || md5(:id || '-' || n), now() - interval '1 hour'
FROM generate_series(1, :count) AS n
"""
COUNTERS = """
UPDATE campaigns SET channel = 'sms', status = 'completed', recipient_count = :count, sent_count = :count,
  started_at = now() - interval '1 hour', finished_at = now() - interval '1 hour'
WHERE id = :id
"""
# One receipt in 20 says undelivered, as the simulated provider's default share does.
UNDELIVERED_EVERY = 20
REASON = "Handset switched off or out of coverage"


def receipts(bench: Bench) -> None:
    count = 10_000 if bench.quick else 100_000
    ids: list[int] = []
    rounds: list[tuple[float, float]] = []
    # The earlier steps leave sending campaigns with queued recipients and no job (the searches'):
    # a reconciler's second look would enqueue their sends for metrics_overhead's workers. Its first
    # look enqueues nothing, so it looks once; the receipts are applied at their own interval.
    with Periodic("reconciler", bench.env, RECONCILE_SECONDS="86400"):
        try:
            _first_pass(bench)
            for number in range(ROUNDS):
                ids.append(_campaign(bench, count, f"Receipts {number + 1}"))
                rounds.append(_round(bench, ids[-1], count))
        finally:
            with bench.app.app_context():
                db.session.execute(text("DELETE FROM campaigns WHERE id = ANY(:ids)"), {"ids": ids})
                # Only this step posts receipts: any a failed round left are its own.
                db.session.execute(text("DELETE FROM provider_receipts"))
                db.session.commit()
                _vacuum("recipients")
                _vacuum("provider_receipts")
    applied = sorted(count / seconds for seconds, _ in rounds)
    accepted = sorted(count / seconds for _, seconds in rounds)
    median, median_accepted = statistics.median(applied), statistics.median(accepted)
    bench.results["receipts_per_s"] = round(median)
    bench.results["receipts_accepted_per_s"] = round(median_accepted)
    bench.row(
        "receipts_per_s",
        f"a burst of {count:,} delivery receipts, {PER_REQUEST:,} a signed POST from {THREADS} threads, applied by"
        " the reconciler: first POST → the campaign's counts all there",
        f"{median:,.0f} /s (median of {ROUNDS}, range {applied[0]:,.0f}–{applied[-1]:,.0f} /s; {count / median:.1f} s)",
    )
    bench.row(
        "receipts_accepted_per_s",
        "the same POSTs alone: first sent → last answered",
        f"{median_accepted:,.0f} /s (median of {ROUNDS}, range {accepted[0]:,.0f}–{accepted[-1]:,.0f} /s)",
    )


def _first_pass(bench: Bench) -> None:
    """Measured from the reconciler's first pass over the receipts on, not from its process starting."""
    beats = Redis.from_url(bench.redis_url)
    started = time.time()
    deadline = time.monotonic() + 60
    while (done := heartbeats.periodic_passes(beats).get("delivery-receipts")) is None or done.at < started:
        if time.monotonic() > deadline:
            raise RuntimeError("the reconciler applied no receipts within 60 s of starting")
        time.sleep(0.1)


def _campaign(bench: Bench, count: int, title: str) -> int:
    campaign_id = bench.campaign(0, title)
    with bench.app.app_context():
        db.session.execute(text(RECIPIENTS), {"id": campaign_id, "count": count})
        db.session.execute(text(COUNTERS), {"id": campaign_id, "count": count})
        db.session.commit()
        _vacuum("recipients")
        _vacuum("provider_receipts")
    return campaign_id


def _bodies(bench: Bench, campaign_id: int) -> list[bytes]:
    """The provider's requests for every message of the campaign, in the order it sent them."""
    with bench.app.app_context():
        sent = db.session.execute(
            text("SELECT id, provider_message_id FROM recipients WHERE campaign_id = :id ORDER BY id"),
            {"id": campaign_id},
        ).all()
        db.session.commit()
    at = time.time() - 60
    receipts = [
        {
            "message_id": message_id,
            "reference": f"recipient-{recipient_id}",
            "status": "undelivered" if n % UNDELIVERED_EVERY == 0 else "delivered",
            "reason": REASON if n % UNDELIVERED_EVERY == 0 else None,
            "at": at + n / 1000,
        }
        for n, (recipient_id, message_id) in enumerate(sent)
    ]
    return [
        json.dumps({"receipts": receipts[start : start + PER_REQUEST]}).encode()
        for start in range(0, len(receipts), PER_REQUEST)
    ]


def _post(url: str, body: bytes) -> int:
    """One request, signed as it is sent: how many receipts it stored."""
    request = urllib.request.Request(
        url, data=body, headers={**signed(RECEIPTS_SECRET, body), "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        said = json.loads(answer.read())
    assert not said["refused"], f"receipts refused: {said['refused'][:3]}"
    return said["stored"]


def _round(bench: Bench, campaign_id: int, count: int) -> tuple[float, float]:
    """Seconds from the first POST to the last receipt applied, and to the last POST answered."""
    bodies = _bodies(bench, campaign_id)
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        stored = sum(pool.map(partial(_post, bench.http.base_url + PATH), bodies))
    posted = time.perf_counter() - started
    assert stored == count, f"{stored:,} of {count:,} receipts stored"
    with bench.app.app_context():
        counted = 0
        while counted < count:
            if time.perf_counter() - started > DEADLINE_SECONDS:
                raise RuntimeError(f"{counted:,} of {count:,} receipts applied in {DEADLINE_SECONDS} s")
            time.sleep(POLL_SECONDS)
            counted = db.session.scalar(
                text("SELECT delivered_count + undelivered_count FROM campaigns WHERE id = :id"), {"id": campaign_id}
            )
            db.session.commit()
    return time.perf_counter() - started, posted


# Receipts that come while the campaign still sends, as a provider's do.
FLOWING = {
    "PROVIDER_RECEIPT_DELAY_MIN": "0.5",
    "PROVIDER_RECEIPT_DELAY_MAX": "1.5",
    "PROVIDER_UNDELIVERED_RATE": "0.05",
}
OVERHEAD_ORDER = ("on", "off", "off", "on", "off", "on", "on", "off")
SETTLE_SECONDS = 30
RECEIPTED = "SELECT sent_count, delivered_count + undelivered_count FROM campaigns WHERE id = :id"


def receipts_overhead(bench: Bench) -> None:
    """Zero-latency throughput with receipts flowing, as `make run` has them
    (the worker's provider owing one per message, the Procfile's receipts
    process posting them to the web process, a reconciler applying them),
    against receipts off, four runs each in OVERHEAD_ORDER after a warm-up of
    each; every run on a vacuumed database. An "on" run then waits for its
    receipts and checks that they add up to its sent count."""
    recipients = 5_000 if bench.quick else 20_000
    flowing = {**FLOWING, "PROVIDER_RECEIPTS_URL": bench.http.base_url + PATH}
    rates: dict[str, list[float]] = {"on": [], "off": []}
    # Per measured on-run: receipts applied when it completed, and what came by the end of the wait.
    at_end: list[int] = []
    settled: list[tuple[int, int]] = []
    for n, kind in enumerate((*WARM_UP, *OVERHEAD_ORDER)):
        campaign_id = bench.campaign(recipients, f"zero latency, receipts {kind}")
        vacuum_all(bench)
        settings = {**NO_LATENCY, **NO_OPT_OUTS, **(flowing if kind == "on" else {})}
        with ExitStack() as running:
            if kind == "on":
                running.enter_context(Periodic("receipts", bench.env, **flowing))
                # RECONCILE_SECONDS as in receipts(): only the receipts are applied more than once.
                running.enter_context(Periodic("reconciler", bench.env, RECONCILE_SECONDS="86400"))
                # Both started, and not starting up on the cores the campaign is timed on.
                _first_pass(bench)
            with bench.workers(**settings):
                rate = bench.dispatch(campaign_id).per_second
            if kind == "on":
                applied = _receipted(bench, campaign_id)[1]
                sent, receipted = _settled(bench, campaign_id)
        _forget_receipts(bench)
        if n >= len(WARM_UP):
            rates[kind].append(rate)
            if kind == "on":
                at_end.append(applied)
                settled.append((sent, receipted))
    on, off = statistics.geometric_mean(rates["on"]), statistics.geometric_mean(rates["off"])
    overhead = (off - on) / off * 100
    bench.results["receipts_overhead_pct"] = round(overhead, 2)
    runs = {kind: ", ".join(f"{rate:,.0f}" for rate in kind_rates) for kind, kind_rates in rates.items()}
    short = sum(receipted != sent for sent, receipted in settled)
    if short:
        print(f"  !! receipts did not add up to the sent count in {short} of {len(settled)} on-runs")
    bench.row(
        "receipts_overhead_pct",
        f"{recipients:,} recipients, zero latency: throughput lost with delivery receipts flowing (off − on) / off",
        f"{overhead:+.1f} % ({off:,.0f} → {on:,.0f} /s; runs off {runs['off']}; on {runs['on']}; "
        f"receipts applied as each on-run completed {', '.join(f'{count:,}' for count in at_end)}; "
        f"delivered + undelivered = sent within {SETTLE_SECONDS} s: "
        f"{'yes' if not short else 'NO'} ({'; '.join(f'{r:,} of {s:,}' for s, r in settled)}))",
    )


def _receipted(bench: Bench, campaign_id: int) -> tuple[int, int]:
    """The campaign's sent count, and its delivered + undelivered."""
    with bench.app.app_context():
        sent, receipted = db.session.execute(text(RECEIPTED), {"id": campaign_id}).one()
        db.session.commit()
    return sent, receipted


def _settled(bench: Bench, campaign_id: int) -> tuple[int, int]:
    """Wait, up to SETTLE_SECONDS, for delivered + undelivered to reach the
    campaign's sent count; both, as they were when it did or the wait ran out."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while (counts := _receipted(bench, campaign_id))[0] != counts[1]:
        if time.monotonic() > deadline:
            sent, receipted = counts
            print(f"  !! campaign {campaign_id}: {receipted:,} of {sent:,} receipts applied {SETTLE_SECONDS} s after")
            break
        time.sleep(POLL_SECONDS)
    return counts


def _forget_receipts(bench: Bench) -> None:
    """Nothing owed or stored is left for the runs and steps after."""
    Redis.from_url(bench.redis_url).delete(RECEIPTS_DUE)
    with bench.app.app_context():
        db.session.execute(text("DELETE FROM provider_receipts"))
        db.session.commit()
