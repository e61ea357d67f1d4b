"""The contact book at size: the New campaign form's audience count and
preview over 1,000,000 contacts (``contacts``), and a CSV of new contacts
through the Import pages and an RQ worker (``contact_import``)."""

import statistics
import time
import urllib.request
import uuid

from sqlalchemy import select, text

from app.contacts.models import ContactImport
from app.extensions import db
from bench.harness import Bench
from bench.measure import percentile, warm_then_time


def contacts(bench: Bench) -> None:
    """A filter change's audience count at 1,000,000 contacts, and a preview
    while typing for an audience of 100,000 of them, over HTTP."""
    total = 200_000 if bench.quick else 1_000_000
    started = time.perf_counter()
    with bench.app.app_context():
        db.session.execute(
            text(
                "INSERT INTO contacts (phone, first_name, last_name, location, preferred_product, attributes) "
                "SELECT '+1' || (2000000000 + n), 'Pat' || n, 'Lee' || n, 'City ' || (n % 10), "
                "'Product ' || (n % 20), jsonb_build_object('plan', (ARRAY['gold', 'silver', 'basic'])[n % 3 + 1]) "
                "FROM generate_series(1, :total) AS n"
            ),
            {"total": total},
        )
        db.session.execute(text("ANALYZE contacts"))
        db.session.commit()
    loaded = time.perf_counter() - started
    filters = [
        {},
        {"audience_location": "City 3"},
        {"audience_product": "Product 7"},
        {"audience_location": "City 3", "audience_product": "Product 7"},
        {"audience_attribute": "plan=gold"},
    ]
    counts = _timed_posts(bench, "/campaigns/audience", [{"channel": "sms", **f} for f in filters], 4, 20)
    form = {
        "channel": "sms",
        "message": "Hi {first_name|there}, {preferred_product} in {location}: {attributes.plan|basic}",
        "audience": "contacts",
        "audience_location": "City 3",
        "recipients": "",
    }
    previews = _timed_posts(bench, "/campaigns/preview", [form], 10, 50)
    count_p95, preview_p95 = percentile(counts, 95), percentile(previews, 95)
    bench.results.update(audience_count_p95_ms=round(count_p95, 1), preview_p95_ms=round(preview_p95, 1))
    bench.row(
        "audience_count_p95_ms",
        f"audience size as the filters change, {total:,} contacts (loaded in {loaded:.0f} s): p95",
        f"{count_p95:.0f} ms (p50 {percentile(counts, 50):.0f} ms, {len(counts)} requests)",
    )
    bench.row(
        "preview_p95_ms",
        f"preview while typing, an audience of {total // 10:,} contacts: p95",
        f"{preview_p95:.0f} ms (p50 {percentile(previews, 50):.0f} ms)",
    )


def _timed_posts(bench: Bench, path: str, forms: list[dict], quick_rounds: int, rounds: int) -> list[float]:
    """Milliseconds each htmx POST of each form took, sorted, over the rounds;
    the first round warms the caches and is left out."""
    headers = {"X-CSRFToken": bench.http.csrf_token, "HX-Request": "true"}
    return warm_then_time(
        lambda form: bench.timed(path, headers, form), forms, (quick_rounds if bench.quick else rounds) - 1
    )


def contact_import(bench: Bench) -> None:
    """A CSV of new contacts through the Import pages and an RQ worker:
    upload (with its check of the whole file), the mapping page, Start,
    until the import is done; three runs, each of new phones."""
    rows = 20_000 if bench.quick else 100_000
    times = []
    with bench.workers():
        for run in range(3):
            lines = ["Full name,Mobile,Email,City,Plan"]
            lines += [
                f"Pat {i} Lee,+25471{run}{i:06d},pat{run}.{i}@example.com,City {i % 10},{('gold', 'basic')[i % 2]}"
                for i in range(rows)
            ]
            content = ("\n".join(lines) + "\n").encode()
            started = time.perf_counter()
            import_id = _upload(bench, f"bench-{run}.csv", content)
            bench.http.post(f"/contacts/imports/{import_id}/start", headers={"X-CSRFToken": bench.http.csrf_token})
            status = _import_ended(bench, import_id)
            assert status == "done", f"import {import_id} stopped"
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    bench.results["import_contacts_100k_s" if not bench.quick else "import_contacts_20k_s"] = round(median, 2)
    bench.row(
        "import_contacts_100k_s",
        f"import a {rows:,}-row CSV of new contacts, upload → done (web + RQ worker): median of 3",
        f"{median:.1f} s ({min(times):.1f}–{max(times):.1f})",
    )


def _import_ended(bench: Bench, import_id: int) -> str:
    with bench.app.app_context():
        while True:
            status = db.session.scalar(select(ContactImport.status).where(ContactImport.id == import_id))
            db.session.commit()
            if status in ("done", "failed"):
                return status
            time.sleep(0.05)


def _upload(bench: Bench, name: str, content: bytes) -> int:
    """POST a file to the upload form as a browser does; the import's id from where it leads."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        bench.http.base_url + "/contacts/imports/new",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "X-CSRFToken": bench.http.csrf_token},
    )
    with bench.http.opener.open(request, timeout=120) as response:
        response.read()
        return int(response.geturl().rstrip("/").rsplit("/", 1)[-1])
