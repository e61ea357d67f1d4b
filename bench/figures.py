"""Every figure ``bench/results.json`` holds: what it measures, how it is
written and its target. The README's table (``python -m bench.table``) and
the check that a run is full read this list; how each is measured is in
bench/README.md. The figures of ``--million`` (``run="million"``) are held
by ``bench/results-million.json`` instead: a full run neither measures nor
misses them.

Plain data: the table is rendered without importing the app.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A bound a figure is held to (``≤``, ``≥``, ``=``, or ``±`` around
    zero), or only words when the figure is read by eye (``op`` empty)."""

    op: str
    bound: float = 0.0
    words: str = ""

    def met(self, value: float) -> bool | None:
        if self.op == "≤":
            return value <= self.bound
        if self.op == "≥":
            return value >= self.bound
        if self.op == "=":
            return value == self.bound
        if self.op == "±":
            return abs(value) <= self.bound
        return None


def at_most(bound: float) -> Target:
    return Target("≤", bound)


def at_least(bound: float) -> Target:
    return Target("≥", bound)


def exactly(bound: float) -> Target:
    return Target("=", bound)


def within(bound: float) -> Target:
    return Target("±", bound)


def said(words: str) -> Target:
    return Target("", words=words)


@dataclass(frozen=True)
class Figure:
    key: str
    # How a value is written: a format for the number, then its unit ("{:.2f} s").
    shown: str
    target: Target | None
    # What is measured, as the table's first column says it.
    says: str
    # When the figure was first measured, a day or an instant in UTC ("2026-12-05T07:10"):
    # a full run from before then holds no value for it.
    added: str = ""
    # Which run measures it: "" the full run (results.json), "million" the
    # --million run (results-million.json).
    run: str = ""

    @property
    def unit(self) -> str:
        return self.shown.split("}", 1)[1]

    def format(self, value: float | list[float]) -> str:
        """A value, or a range given as [lowest, highest]."""
        number = self.shown.split("}", 1)[0] + "}"
        if isinstance(value, list):
            return "–".join(number.format(v) for v in value) + self.unit
        return number.format(value) + self.unit

    def target_said(self) -> str:
        if self.target is None:
            return ""
        if not self.target.op:
            return self.target.words
        return f"{self.target.op} {self.target.bound:,g}{self.unit}"


SPREAD = "the same 1,000 streams spread over 100 campaigns of 20"
# When bench/scaling.py's figures were first measured (issue 29, "past one machine").
WORKER_SCALING = "2026-12-06"

# In the order of the README's table.
FIGURES: tuple[Figure, ...] = (
    Figure(
        "import_10k_s",
        "{:.2f} s",
        at_most(1.5),
        "store a 10,000-line paste, POST /campaigns/new (each line also becomes a contact)",
    ),
    Figure("import_100k_s", "{:.2f} s", at_most(10), "store a 100,000-line paste"),
    Figure(
        "page_p95_ms",
        "{:,.0f} ms",
        at_most(150),
        "campaign page, unfiltered and status-filtered pages, 100,000 recipients part-way through a send, p95"
        " over HTTP",
    ),
    Figure(
        "latency_bound_ratio",
        "{:.2f} ×",
        at_most(1.15),
        "2,000 recipients, latency 1–3 s, 8 % failures, one process at concurrency 200: time vs the ideal 20 s",
    ),
    Figure("worker_rss_mb", "{:,.0f} MB", at_most(300), "worker RSS in that run, worker + work horse, peak"),
    Figure(
        "zero_latency_per_s",
        "{:,.0f} /s",
        at_least(5000),
        "20,000 recipients, zero latency, the Procfile's default workers (a process per core × 100): Start → "
        "all terminal",
    ),
    Figure(
        "live_p50_ms",
        "{:,.0f} ms",
        None,
        "live delay, recipient committed → its final badge received on the real SSE stream, during that run: p50",
    ),
    Figure("live_p95_ms", "{:,.0f} ms", at_most(500), "the same live delay: p95"),
    Figure("sse_messages_per_s", "{:.1f}", at_most(10), "SSE messages a second reaching one client during that run"),
    Figure(
        "scaling_ratio",
        "{:.2f} ×",
        at_least(1.8),
        "latency-bound throughput, 2 processes vs 1, 100 sends in flight each",
    ),
    *(
        Figure(
            f"workers_{n}_per_s",
            "{:,.1f} /s",
            said(f"ideal {n * 25:,} /s"),
            f"recipients a second at latency 1–3 s, {n} worker process{'es' if n > 1 else ''} × 50 sends in flight, "
            "a campaign of about 18 s at the ideal (docs/scaling.md)",
            added=WORKER_SCALING,
        )
        for n in (1, 2, 4, 8)
    ),
    Figure(
        "workers_8_ratio",
        "{:.2f} ×",
        said("ideal 8 ×"),
        "the same: 8 processes vs 1, in one run",
        added=WORKER_SCALING,
    ),
    *(
        figure
        for n in (1, 2, 4)
        for figure in (
            Figure(
                f"workers_zero_{n}_per_s",
                "{:,.0f} /s",
                said("read by eye: where PostgreSQL becomes the limit"),
                f"recipients a second at zero latency, 20,000 recipients, {n} worker process{'es' if n > 1 else ''} "
                "× 100",
                added=WORKER_SCALING,
            ),
            Figure(
                f"workers_zero_{n}_postgres_cpu_pct",
                "{:.0f} %",
                None,
                "the same: PostgreSQL's share of the machine's CPU (all cores) while it sent",
                added=WORKER_SCALING,
            ),
            Figure(
                f"workers_zero_{n}_workers_cpu_pct",
                "{:.0f} %",
                None,
                "the same: the worker processes' share (workers and work horses)",
                added=WORKER_SCALING,
            ),
        )
    ),
    Figure(
        "transactions_per_message",
        "{:.3f}",
        None,
        "PostgreSQL transactions (commits and rollbacks) per message, 8 processes × 50 at latency 1–3 s, pool "
        "start to stop",
        added=WORKER_SCALING,
    ),
    Figure("wal_bytes_per_message", "{:,.0f} B", None, "the same: WAL written per message", added=WORKER_SCALING),
    Figure("redis_calls_per_message", "{:.1f}", None, "the same: Redis commands per message", added=WORKER_SCALING),
    Figure(
        "transactions_per_message_zero",
        "{:.3f}",
        None,
        "PostgreSQL transactions per message, 4 processes × 100 at zero latency",
        added=WORKER_SCALING,
    ),
    Figure("wal_bytes_per_message_zero", "{:,.0f} B", None, "the same: WAL written per message", added=WORKER_SCALING),
    Figure(
        "redis_calls_per_message_zero", "{:.1f}", None, "the same: Redis commands per message", added=WORKER_SCALING
    ),
    Figure(
        "many_campaigns_ratio",
        "{:.2f} ×",
        at_most(1.3),
        "100 campaigns of 20 started together vs the same 2,000 recipients as one campaign, latency 1–3 s, a "
        "process per core × 100: first Start → last recipient terminal, in one run (issue 29)",
        added="2026-12-06",
    ),
    Figure("many_campaigns_s", "{:.1f} s", None, "the same: the 100 campaigns' time", added="2026-12-06"),
    Figure("one_campaign_2000_s", "{:.1f} s", None, "the same: the one campaign's time", added="2026-12-06"),
    Figure(
        "small_behind_large_s",
        "{:.1f} s",
        at_most(10),
        "10 recipients started while a 100,000-recipient campaign sends at latency 1–3 s, a process per core × "
        "100: its Start → its last recipient terminal (issue 29)",
        added="2026-12-06",
    ),
    Figure(
        "large_sent_before_small",
        "{:,.0f}",
        None,
        "the same: the large campaign's recipients sent before the small one started",
        added="2026-12-06",
    ),
    Figure(
        "large_sent_during_small",
        "{:,.0f}",
        None,
        "the same: the large campaign's recipients sent while the small one sent",
        added="2026-12-06",
    ),
    Figure(
        "rate_limit_error_pct",
        "{:+.1f} %",
        within(5),
        "`EMAIL_RATE_LIMIT=50`, 500 recipients, a process per core: provider calls a second (its call log) vs 50 /s",
    ),
    Figure(
        "rate_limit_busiest_second",
        "{:,.0f}",
        at_most(52),
        "the most provider calls in any one second of that run",
        added="2026-12-04",
    ),
    Figure(
        "rate_limit_longest_gap_ms",
        "{:,.0f} ms",
        None,
        "the longest wait between two calls of that run (the interval is 20 ms): a stall, if long",
        added="2026-12-06T07:00",
    ),
    Figure(
        "sequential_speedup",
        "{:,.0f} ×",
        said("a ratio"),
        "ours (the latency-bound run) vs one recipient at a time (1 process, concurrency 1, 10 recipients, "
        "same provider)",
    ),
    Figure(
        "browser_update_p50_ms",
        "{:.1f} ms",
        said("stays responsive"),
        "chromium on a 100,000-recipient campaign as it sends at zero latency: time to apply a live update, median",
    ),
    Figure("browser_slowest_update_ms", "{:,.0f} ms", said("stays responsive"), "the same: the slowest update"),
    Figure("browser_longest_task_ms", "{:,.0f} ms", said("stays responsive"), "the same: the longest main-thread task"),
    Figure(
        "browser_long_task_pct",
        "{:.1f} %",
        said("stays responsive"),
        "the same: share of the send's time in tasks over 50 ms",
    ),
    Figure(
        "watchers_connected",
        "{:,.0f}",
        at_least(1000),
        "1,000 event streams on one 2,000-recipient campaign sending at 1–3 s latency, on the Procfile's two "
        "gunicorn workers: connected",
    ),
    Figure(
        "watchers_final_pct",
        "{:,.0f} %",
        exactly(100),
        "share of them whose newest update (what the page shows) is the final state",
    ),
    Figure("watch_page_p95_ms", "{:,.0f} ms", at_most(300), "the campaign page while they watch, p95"),
    Figure(
        "watch_page_ratio",
        "{:.1f} ×",
        None,
        "that page p95 vs the same send with no one watching, measured in the same run",
    ),
    Figure("web_redis_connections", "{:,.0f}", at_most(10), "Redis clients held by the web processes (`CLIENT LIST`)"),
    Figure("rss_per_watcher_kb", "{:,.0f} kB", at_most(50), "web processes' memory growth per open stream"),
    Figure(
        "watch_delivery_p95_ms",
        "{:,.0f} ms",
        at_most(250),
        "publish → the last of the 1,000 streams receiving it, p95",
    ),
    Figure("watchers_connected_spread", "{:,.0f}", at_least(1000), f"{SPREAD}: connected"),
    Figure("watchers_final_pct_spread", "{:,.0f} %", exactly(100), f"{SPREAD}: newest update final"),
    Figure("watch_page_p95_ms_spread", "{:,.0f} ms", at_most(300), f"{SPREAD}: campaign page p95"),
    Figure("web_redis_connections_spread", "{:,.0f}", at_most(10), f"{SPREAD}: Redis clients of the web"),
    Figure("rss_per_watcher_kb_spread", "{:,.0f} kB", at_most(50), f"{SPREAD}: memory per stream"),
    Figure("watch_delivery_p95_ms_spread", "{:,.0f} ms", at_most(250), f"{SPREAD}: delivery p95"),
    Figure(
        "personalized_ratio",
        "{:.2f} ×",
        at_least(0.9),
        "20,000 recipients at zero latency with a two-placeholder template vs a literal message, runs "
        "alternating twice each in one run",
    ),
    Figure(
        "metrics_overhead_pct",
        "{:+.1f} %",
        at_most(5),
        "20,000 recipients at zero latency, the Procfile's default workers: throughput lost to counting metrics "
        "(a multiprocess directory, as production runs) vs `METRICS_ENABLED=false`, six runs each, "
        "interleaved, in one run",
        added="2026-12-05T07:10",
    ),
    Figure(
        "audience_count_p95_ms",
        "{:,.0f} ms",
        at_most(150),
        "the New campaign form's audience size as its contact filters change, 1,000,000 contacts, p95 over HTTP",
    ),
    Figure(
        "preview_p95_ms",
        "{:,.0f} ms",
        at_most(100),
        "the form's preview while typing, for an audience of 100,000 of those contacts, p95",
    ),
    Figure(
        "import_contacts_100k_s",
        "{:.1f} s",
        at_most(15),
        "import a 100,000-row CSV of new contacts through the web and the Procfile's workers, upload → done, "
        "median of 3",
    ),
    Figure(
        "schedule_lag_p95_s",
        "{:.2f} s",
        at_most(5),
        "20 campaigns due at the same moment, the Procfile's scheduler at its 2 s pass: due → `started_at`, "
        "p95 over three rounds",
    ),
    Figure("schedule_lag_p95_range_s", "{:.2f} s", None, "the same: each round's p95, lowest–highest"),
    Figure("schedule_lag_max_s", "{:.2f} s", None, "the same: the latest start"),
    Figure(
        "api_list_p95_ms",
        "{:,.0f} ms",
        at_most(50),
        "`GET /api/v1/campaigns` with a token, 10,000 campaigns, page 1 and the middle page, with and without"
        " filters, p95 over HTTP",
    ),
    Figure(
        "api_send_10k_s",
        "{:.2f} s",
        at_most(2),
        "`POST /api/v1/campaigns/{id}/send` with 10,000 customer ids, token over HTTP until the 202, median "
        "of 5 rounds after a warm-up",
    ),
    Figure(
        "search_recipients_p95_ms",
        "{:,.0f} ms",
        at_most(150),
        "a campaign's recipient search as typed (htmx), 1,000,000 recipients: a rare, a middling and a common"
        " part of a name, in All and in Failed, p95 over HTTP",
    ),
    Figure(
        "search_phone_start_p95_ms",
        "{:,.0f} ms",
        at_most(150),
        "the same campaign's search for the start of a phone number, as dialled and as kept, p95",
    ),
    Figure(
        "search_campaigns_p95_ms",
        "{:,.0f} ms",
        at_most(100),
        "the campaign list's search as typed (htmx), 10,000 campaigns: words, a status, a channel, sorts, a "
        "deep page, a date range; p95 over HTTP",
    ),
    Figure(
        "ops_page_p95_ms",
        "{:,.0f} ms",
        at_most(150),
        "the Operations page (and its campaigns block), 10,000 campaigns and 1,000,000 provider calls, 100,000 "
        "of them in the last hour; p95 over HTTP",
        added="2026-12-05T10:00",
    ),
    Figure(
        "ops_page_cold_p95_ms",
        "{:,.0f} ms",
        said("read by eye: once a minute at most, after Redis lost what it kept"),
        "the same page when nothing is kept of the last hour's minutes, so every call of the hour is read from "
        "the table (the 100,000 written for it and those of the run's earlier steps); p95 over HTTP",
        added="2026-12-05T10:00",
    ),
    Figure(
        "dashboard_p95_ms",
        "{:,.0f} ms",
        at_most(200),
        "the dashboard, 1,000,000 recipients sent over the last 30 days in 300 campaigns, read from their hourly "
        "rollup: the last 30 days, 7 and 90; p95 over HTTP",
        added="2026-12-05T13:00",
    ),
    Figure(
        "export_100k_s",
        "{:.2f} s",
        at_most(5),
        "Export CSV of a 100,000-recipient campaign (each with their own text) over HTTP from the web process, "
        "to the last byte; median of 3",
        added="2026-12-05T13:00",
    ),
    Figure(
        "export_rss_growth_mb",
        "{:,.1f} MB",
        at_most(50),
        "the web processes' memory growth while Export CSV streams a 1,000,000-recipient campaign: peak RSS "
        "over what they held before",
        added="2026-12-05T13:00",
    ),
    Figure(
        "receipts_per_s",
        "{:,.0f} /s",
        at_least(2000),
        "delivery receipts applied a second from a burst of 100,000 for one campaign's sent messages, posted "
        "signed, 1,000 a request from 4 threads, to the web process and applied by the Procfile's reconciler: "
        "first POST → the campaign's delivered and undelivered counts add up to 100,000; median of 3",
        added="2026-12-05T19:00",
    ),
    Figure(
        "receipts_accepted_per_s",
        "{:,.0f} /s",
        None,
        "the same receipts' POSTs alone, first sent → last answered (stored, not yet applied); median of 3",
        added="2026-12-05T19:00",
    ),
    Figure(
        "receipts_overhead_pct",
        "{:+.1f} %",
        at_most(10),
        "20,000 recipients at zero latency, the Procfile's default workers: throughput lost with delivery receipts "
        "flowing (the provider owing one per message, the receipts process posting them, a reconciler applying "
        "them, all while it sends) vs none, four runs each, interleaved, in one run; each on-run's receipts then "
        "add up to its sent count (issue 28: receipts must not move the send figures)",
        added="2026-12-05T19:50",
    ),
)

MILLION_RUN = "million"
# One campaign of a million recipients end to end (issue 29); the size a run had is its million_size.
MILLION_FIGURES: tuple[Figure, ...] = tuple(
    Figure(key, shown, target, says, run=MILLION_RUN)
    for key, shown, target, says in (
        ("million_size", "{:,.0f}", None, "recipients in the run: contacts imported, then one campaign to them all"),
        (
            "million_import_s",
            "{:.1f} s",
            at_most(60),
            "a CSV of that many new contacts uploaded through the Import pages and imported by the Procfile's "
            "workers: upload → done",
        ),
        (
            "million_create_s",
            "{:.1f} s",
            None,
            "the New campaign form sent to every contact of the import (`Hi {first_name}` and an attribute): "
            "POST → the campaign's page",
        ),
        (
            "million_dispatch_s",
            "{:.1f} s",
            at_most(180),
            "Start → every recipient terminal at zero latency, 8 % permanent failures, with every guarantee on, "
            "receipts flowing, a browser and 10 page streams watching",
        ),
        ("million_dispatch_per_s", "{:,.0f} /s", None, "the same send: recipients a second"),
        (
            "million_page_p95_ms",
            "{:,.0f} ms",
            at_most(150),
            "the campaign's page, its status tabs, a deep page and its recipient search, over HTTP while it sends: p95",
        ),
        (
            "million_live_p95_ms",
            "{:,.0f} ms",
            at_most(500),
            "recipient committed → its final badge received by a page's stream (10 pages spread over the campaign): "
            "p95",
        ),
        (
            "million_browser_live_p95_ms",
            "{:,.0f} ms",
            at_most(500),
            "recipient committed → its final badge on a browser's page (the middle page, chromium): p95",
        ),
        (
            "sse_bytes_per_s_per_client",
            "{:,.0f} B/s",
            at_most(20_000),
            "bytes a page's stream receives a second while it sends (the busiest of the 10)",
        ),
        (
            "bytes_per_recipient",
            "{:,.0f} B",
            at_most(600),
            "recipients and delivery attempts, with their indexes and TOAST (`pg_total_relation_size`), per "
            "recipient, after the run",
        ),
        (
            "million_dead_tuples",
            "{:,.0f}",
            None,
            "dead rows left in recipients and delivery attempts (`n_dead_tup`) once autovacuum went through both "
            "since it completed (or 90 s after it did), before any VACUUM",
        ),
        (
            "engine_ceiling_per_s",
            "{:,.0f} /s",
            None,
            "PostgreSQL alone: the engine's own loop-turn statements replayed by psycopg2, the engine's batch size",
        ),
        (
            "engine_efficiency",
            "{:.2f}",
            at_least(0.35),
            "the send's recipients a second ÷ that ceiling",
        ),
        (
            "million_checks_failed",
            "{:,.0f}",
            exactly(0),
            "invariants of the fault tests checked after the run (all terminal, counters = rows, attempts logged, "
            "one provider message per sent recipient, receipts add up, skipped = opted out): failed",
        ),
    )
)

BY_KEY = {figure.key: figure for figure in FIGURES + MILLION_FIGURES}
