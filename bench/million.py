"""One campaign of a million recipients end to end on this machine (issue 29),
``--million``: a CSV of that many new contacts uploaded through the Import
pages and imported, a campaign to every one of them made by the New campaign
form, and its send at zero latency with every guarantee on and every process
of the Procfile running, watched (``bench.million_send``); then the
invariants the fault tests check, what its rows take on disk
(``bench.million_checks``), and the engine set against what PostgreSQL alone
does with its own statements (``bench.ceiling``).

Nothing of it is held in memory a row at a time: the CSV is written to a
temporary file and streamed up, and the checks read the rows in batches.
"""

import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import select

from app.contacts.models import ContactImport
from app.extensions import db
from bench import ceiling, million_checks, million_send
from bench.contacts import _import_ended
from bench.harness import NO_LATENCY, Bench
from bench.measure import percentile
from bench.receipts import FLOWING, PATH
from bench.stack import Periodic, rss_mb
from bench.throughput import NO_OPT_OUTS

SIZE = 1_000_000
# Personal: each recipient's own first name and an attribute of their contact (the template grammar's).
MESSAGE = "Hi {first_name}, your {attributes.plan} plan renews on the 1st. Reply STOP to opt out."
FIRST = ("Mary", "John", "Grace", "Peter", "Amina", "Wanjiru", "Otieno", "Fatuma", "Brian", "Mercy", "Kevin")
FIRST += ("Faith", "Daniel", "Esther", "James", "Joyce", "Samuel", "Ruth", "David", "Lucy")
LAST = ("Kamau", "Odhiambo", "Mwangi", "Ochieng", "Njoroge", "Kiprop", "Mutua", "Wambui", "Achieng", "Kariuki")
LAST += ("Hopper", "Lovelace", "Turing", "Smith", "Jones", "Brown")
# One contact in RARE_EVERY has this surname: what the rare search finds.
RARE, RARE_EVERY = "Zwelithini", 10_007
PLANS = ("gold", "silver", "basic")
# An upload of 1,000,000 rows is about 60 MB; its check and the campaign's creation take a while.
UPLOAD_TIMEOUT = CREATE_TIMEOUT = 900


def million(bench: Bench, size: int) -> None:
    bench.results["million_size"] = size
    print(f"One campaign of {size:,} recipients end to end…", flush=True)
    # The provider owes a receipt for each message it accepts; the receipts process posts them.
    flowing = {**FLOWING, "PROVIDER_RECEIPTS_URL": bench.http.base_url + PATH}
    with ExitStack() as running:
        running.enter_context(Periodic("reconciler", bench.env))
        running.enter_context(Periodic("scheduler", bench.env))
        running.enter_context(Periodic("receipts", bench.env, **flowing))
        # 8 % permanent failures, none of them "opted out" (see bench/README.md).
        running.enter_context(bench.workers(**{**NO_LATENCY, **NO_OPT_OUTS, **flowing}))
        import_id = _imported(bench, size)
        campaign_id = _created(bench, import_id, size)
        sent = million_send.send_watched(bench, campaign_id, size)
        settled_s = million_send.receipts_settled(bench, campaign_id, sent.completed_at)
    # Every process stopped: nothing moves while the rows are read.
    checks = million_checks.check(bench, campaign_id, settled_s is not None, sent.stopped)
    storage = million_checks.storage(bench, sent.completed_at)
    engine = ceiling.measure(bench, campaign_id, size)
    _record(bench, sent, settled_s, checks, storage, engine)


def _imported(bench: Bench, size: int) -> int:
    """Upload a CSV of ``size`` new contacts as a browser does, start its
    import with the columns as the page maps them, and wait for it to be done."""
    with tempfile.TemporaryDirectory(prefix="dispatcher-million-") as directory:
        boundary = uuid.uuid4().hex
        body = Path(directory) / "upload"
        _write_upload(body, size, boundary)
        print(f"  ({size:,} contacts written to a {body.stat().st_size / 2**20:.0f} MB upload)", flush=True)
        started = time.perf_counter()
        import_id = _upload(bench, body, boundary)
    uploaded = time.perf_counter() - started
    bench.http.post(f"/contacts/imports/{import_id}/start", headers={"X-CSRFToken": bench.http.csrf_token})
    status = _import_ended(bench, import_id)
    seconds = time.perf_counter() - started
    with bench.app.app_context():
        done = db.session.execute(select(ContactImport).where(ContactImport.id == import_id)).scalar_one()
        created, failed = done.created_count, done.failed_count
        db.session.commit()
    assert status == "done", f"import {import_id} stopped: {status}"
    bench.results["million_import_s"] = round(seconds, 1)
    bench.row(
        "million_import_s",
        f"import a {size:,}-row CSV of new contacts through the Import pages, upload → done",
        f"{seconds:.1f} s (upload and its check {uploaded:.1f} s; {created:,} created, {failed:,} failed)",
    )
    return import_id


def _write_upload(path: Path, size: int, boundary: str) -> None:
    """The multipart body a browser sends for the upload form: the CSV, a row at a time."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="million.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        )
        out.write("First name,Last name,Mobile,Email,City,Plan\n")
        for n in range(size):
            last = RARE if n % RARE_EVERY == 0 else LAST[(n // len(FIRST)) % len(LAST)]
            out.write(f"{FIRST[n % len(FIRST)]},{last},+2547{n:08d},c{n}@example.com,City {n % 10},{PLANS[n % 3]}\n")
        out.write(f"\r\n--{boundary}--\r\n")


def _upload(bench: Bench, body: Path, boundary: str) -> int:
    """POST the body to the upload form, streamed from its file; the import's id from where it leads."""
    with body.open("rb") as data:
        request = urllib.request.Request(
            bench.http.base_url + "/contacts/imports/new",
            data=data,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(body.stat().st_size),
                "X-CSRFToken": bench.http.csrf_token,
            },
        )
        with bench.http.opener.open(request, timeout=UPLOAD_TIMEOUT) as response:
            response.read()
            return int(response.geturl().rstrip("/").rsplit("/", 1)[-1])


def _created(bench: Bench, import_id: int, size: int) -> int:
    """The New campaign form sent to the import's contacts, as a person fills it in; the campaign's id."""
    form = {
        "csrf_token": bench.http.csrf_token,
        "title": f"{size:,} contacts",
        "channel": "sms",
        "message": MESSAGE,
        "audience": "contacts",
        "audience_import": str(import_id),
        "recipients": "",
    }
    request = urllib.request.Request(bench.http.base_url + "/campaigns/new", data=urllib.parse.urlencode(form).encode())
    before_mb = rss_mb(bench.web)
    started = time.perf_counter()
    with bench.http.opener.open(request, timeout=CREATE_TIMEOUT) as response:
        page = response.read().decode()
        where = response.geturl()
    seconds = time.perf_counter() - started
    after_mb = rss_mb(bench.web)
    if "/campaigns/new" in where:
        raise RuntimeError(f"the New campaign form was refused: {_errors(page)}")
    campaign_id = int(where.rstrip("/").rsplit("/", 1)[-1])
    bench.results["million_create_s"] = round(seconds, 1)
    bench.row(
        "million_create_s",
        f"a campaign to all {size:,} contacts by the New campaign form (`{MESSAGE[:20]}…`)",
        f"{seconds:.1f} s (the web processes' memory {before_mb:,.0f} MB before, {after_mb:,.0f} MB after)",
    )
    return campaign_id


def _errors(page: str) -> str:
    """What a refused form says, roughly: its error lines."""
    return " ".join(line.strip() for line in page.splitlines() if "error" in line.lower())[:500]


def _record(
    bench: Bench,
    sent: million_send.Sent,
    settled_s: float | None,
    checks: list[million_checks.Check],
    storage: million_checks.Storage,
    engine: ceiling.Ceiling,
) -> None:
    per_second = sent.recipients / sent.dispatch_s
    efficiency = per_second / engine.per_second
    failed = [check for check in checks if not check.passed]
    page_p95, live_p95 = percentile(sent.page_ms, 95), percentile(sent.live_ms, 95)
    browser_p95 = percentile(sent.browser_ms, 95)
    bytes_per_s = max(sent.bytes_per_s)
    bench.results.update(
        million_dispatch_s=round(sent.dispatch_s, 1),
        million_dispatch_per_s=round(per_second),
        million_page_p95_ms=round(page_p95, 1),
        million_live_p95_ms=round(live_p95),
        sse_bytes_per_s_per_client=round(bytes_per_s),
        bytes_per_recipient=round(storage.bytes_per_recipient),
        million_dead_tuples=storage.dead_tuples,
        engine_ceiling_per_s=round(engine.per_second),
        engine_efficiency=round(efficiency, 3),
        million_checks_failed=len(failed),
        million_checks={check.name: "PASS" if check.passed else "FAIL" for check in checks},
    )
    settled = f"{settled_s:.1f} s" if settled_s is not None else f"NOT within {million_send.SETTLE_SECONDS} s"
    bench.row(
        "million_dispatch_s",
        f"Start → every one of {sent.recipients:,} recipients terminal, zero latency, receipts flowing, watched",
        f"{sent.dispatch_s:.1f} s ({per_second:,.0f} /s; {sent.skipped:,} skipped, having replied STOP as it sent; "
        f"receipts all applied {settled} after it completed)",
    )
    bench.row(
        "million_page_p95_ms",
        "its page, tabs, a deep page and its search while it sends, p95",
        f"{page_p95:.0f} ms (p50 {percentile(sent.page_ms, 50):.0f} ms, max {max(sent.page_ms, default=0):.0f} ms, "
        f"{len(sent.page_ms)} requests)",
    )
    bench.row(
        "million_live_p95_ms",
        f"committed → final badge on {million_send.STREAMS} page streams spread over it, p50 / p95",
        f"{percentile(sent.live_ms, 50):.0f} / {live_p95:.0f} ms ({len(sent.live_ms):,} of {sent.watched:,} seen)",
    )
    browser = f"committed → final badge on a browser's page (page {sent.browser_page:,}), p50 / p95"
    if sent.browser_ms:
        bench.results["million_browser_live_p95_ms"] = round(browser_p95)
        measured = f"{percentile(sent.browser_ms, 50):.0f} / {browser_p95:.0f} ms ({len(sent.browser_ms)} badges seen)"
    else:
        measured = "not measured: no chromium or Playwright, or no badge seen"
    bench.row("million_browser_live_p95_ms", browser, measured)
    bench.row(
        "sse_bytes_per_s_per_client",
        "bytes a page's stream receives a second while it sends, the busiest / the median",
        f"{bytes_per_s:,.0f} / {percentile(sent.bytes_per_s, 50):,.0f} B/s",
    )
    bench.row(
        "bytes_per_recipient",
        "recipients + delivery_attempts with indexes and TOAST, per recipient (each part's, in bytes)",
        f"{storage.bytes_per_recipient:,.0f} B ({storage.said()})",
    )
    bench.row("million_dead_tuples", "dead rows left (n_dead_tup) after waiting for autovacuum", storage.dead_said())
    bench.row(
        "engine_ceiling_per_s",
        "PostgreSQL alone, the engine's turn statements replayed (best of 1 and 2 loops)",
        engine.said(),
    )
    bench.row(
        "engine_efficiency",
        "the send's rate ÷ that ceiling",
        f"{efficiency:.2f} ({per_second:,.0f} ÷ {engine.per_second:,.0f} /s)",
    )
    for check in checks:
        print(f"  {'PASS' if check.passed else 'FAIL'} {check.name}: {check.said}", flush=True)
    bench.row(
        "million_checks_failed",
        "the fault tests' invariants after the run: failed",
        f"{len(failed)} of {len(checks)}" + (f" ({', '.join(check.name for check in failed)})" if failed else ""),
    )
