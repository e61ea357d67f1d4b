"""Settings, read from the environment with safe development defaults.

Every setting is named here once, with its default; the default's type says how
the environment's text is read (``"1"``, ``"true"``, ``"yes"`` and ``"on"`` are
true). Flask's own ``from_prefixed_env`` wants a prefix on every name and JSON
values, which would rename the documented settings; this reads them as they are.
Tests pass overrides to ``create_app``.
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, NamedTuple


class InProduction(NamedTuple):
    """A default that depends on APP_ENV, which a test or a caller of
    ``create_app`` may change after the environment is read: the app picks
    one of the two at start (``app.security.init_app``)."""

    production: Any
    otherwise: Any


DEFAULTS: dict[str, Any] = {
    # No default: outside development the app refuses to start without one
    # (app.security.check_secret_key).
    "SECRET_KEY": "",
    # Anything but "development" is run as production: a secret key is
    # required, and the two settings below default to HTTPS only.
    "APP_ENV": "production",
    # The session cookie is sent over HTTPS only. Unset, it is in production,
    # and not in development or tests, which serve plain http on 127.0.0.1.
    "SESSION_COOKIE_SECURE": InProduction(True, otherwise=False),
    # Strict-Transport-Security on every response: browsers that saw it use
    # only HTTPS for this site for this many seconds. 0 sends none. Unset, a
    # year in production and 0 elsewhere.
    "HSTS_SECONDS": InProduction(365 * 24 * 3600, otherwise=0),
    # Sliding: every request renews it, so a day of idleness signs a person out.
    "SESSION_HOURS": 12.0,
    # How many reverse proxies in front set X-Forwarded-For / -Proto; 0 trusts
    # none. Sign-in and webhook throttling count per client address: too few,
    # and every client has the proxy's address, so one client's failures hold
    # up everyone; too many, and a client can name its own address.
    "TRUSTED_PROXIES": 0,
    # Failed sign-ins allowed per client address and account together, and
    # per account from every address (app.auth.throttling); then the form
    # says how long to wait.
    "SIGN_IN_FAILURE_LIMIT": "5 per minute",
    "SIGN_IN_ACCOUNT_FAILURE_LIMIT": "20 per hour",
    # A browser that signed in to an account within this many days is held
    # only to its own address's count for it, not to the account's.
    "SIGN_IN_KNOWN_DEVICE_DAYS": 90.0,
    # A form sent by a browser whose session ended is kept (in Redis, an hour)
    # until its person signs in again: at most this many bytes as stored, and at
    # most this many forms per client address (the hourly part bounds what one
    # address holds at once). A form refused either way is not kept.
    "KEPT_FORM_MAX_BYTES": 1024 * 1024,
    "KEPT_FORM_RATE_LIMIT": "5 per minute; 20 per hour",
    # Per API token, and per person over all their tokens together: every
    # request, and accepted sends and starts (contract B.1).
    "API_RATE_LIMIT": "600 per minute",
    "API_SEND_RATE_LIMIT": "5 per minute",
    # Tokens one person may have that are neither revoked nor expired; more
    # tokens would otherwise multiply every per-token limit.
    "API_TOKENS_PER_PERSON": 10,
    # Idempotency-Key answers one person may have kept (24 h): how many, and
    # their bodies' bytes in all. Past either, a new key is 429 until the
    # oldest is a day old; a request without the header is unaffected.
    "API_IDEMPOTENCY_KEYS_PER_PERSON": 10_000,
    "API_IDEMPOTENCY_BYTES_PER_PERSON": 10 * 1024 * 1024,
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/dispatcher",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    # Werkzeug refuses form fields over 500 kB by default: about 10,000 pasted lines.
    "MAX_FORM_MEMORY_SIZE": 16 * 1024 * 1024,
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
    "DEFAULT_REGION": "US",
    "RECIPIENT_LINE_LIMIT": 50_000,
    # A pasted recipient line longer than this many characters is that line's
    # error and is not read further: a name and an address fit in far less, and
    # a megabyte-long line must not hold up the web process reading it.
    "RECIPIENT_LINE_MAX_CHARS": 1_000,
    # The largest CSV file an import takes, in bytes, and the most rows (the
    # header aside); a larger file is refused whole, before anything is written.
    "IMPORT_MAX_BYTES": 100 * 1024 * 1024,
    "IMPORT_MAX_ROWS": 1_000_000,
    # The most columns its header may have, refused the same way: the import's
    # page maps each column with a choice, and 200,000 of them took 20 s and
    # 230 MB to show.
    "IMPORT_MAX_COLUMNS": 1_000,
    # Rows an import writes per transaction: its progress, and where a stopped
    # import resumes, move by this many.
    "IMPORT_BATCH_ROWS": 2_000,
    # An import, or a change to many contacts, whose job wrote nothing for
    # this long (its worker was killed) is queued again by the reconciler,
    # and resumes where it stopped.
    "IMPORT_STALL_SECONDS": 60.0,
    # Contacts a change to many of them (delete, add or remove an attribute)
    # makes per transaction; a change to at most this many is made at once,
    # by the request that confirmed it, a larger one by a job.
    "BULK_CHANGE_BATCH_ROWS": 2_000,
    # An uploaded file whose import was never started is removed (with its
    # file) this many hours after the upload, by the reconciler.
    "IMPORT_UNSTARTED_HOURS": 24.0,
    "RECIPIENTS_PER_PAGE": 100,
    "CAMPAIGNS_PER_PAGE": 25,
    "RQ_QUEUE": "dispatch",
    "PROVIDER_LATENCY_MIN": 1.0,
    "PROVIDER_LATENCY_MAX": 3.0,
    # The share of sends that fail, spread evenly over the provider's six kinds
    # of error; PROVIDER_ERROR_RATES ("timeout=0.02,opted_out=0.01") sets each
    # kind's rate instead (see jobs.provider.ERRORS).
    "PROVIDER_FAILURE_RATE": 0.08,
    "PROVIDER_ERROR_RATES": {},
    # The simulated provider's ledger of idempotency keys. A real provider keeps
    # its own; point this at another Redis to model that. Empty: REDIS_URL.
    "PROVIDER_LEDGER_URL": "",
    # Transient failures are retried after a random delay of up to
    # min(cap, base × 2^(attempt − 1)) seconds ("full jitter"), up to
    # RETRY_MAX_ATTEMPTS attempts in all.
    "RETRY_BASE_SECONDS": 2.0,
    "RETRY_CAP_SECONDS": 60.0,
    "RETRY_MAX_ATTEMPTS": 3,
    # A claimed recipient belongs to its worker this long; if the worker dies,
    # the reconciler puts it back in the queue after that. Longer than any send takes.
    "LEASE_SECONDS": 60.0,
    # How often the reconciler looks for expired leases, due retries and
    # campaigns whose jobs were lost.
    "RECONCILE_SECONDS": 2.0,
    # How often the scheduler looks for scheduled campaigns whose time has come.
    "SCHEDULER_INTERVAL_SECONDS": 2.0,
    # A scheduled campaign started later than this after its time says so in
    # its history (the scheduler was not running, say).
    "SCHEDULE_LATE_SECONDS": 60.0,
    # The zone times are entered and shown in for a person who chose none (an IANA name).
    "DEFAULT_TIMEZONE": "UTC",
    # A campaign pauses itself when at least this share of its last
    # AUTO_PAUSE_WINDOW attempts failed; 0 turns it off.
    "AUTO_PAUSE_FAILURE_RATE": 0.5,
    "AUTO_PAUSE_WINDOW": 50,
    # A send job waits this long for PostgreSQL or Redis to come back before it
    # gives up (and leaves its campaign to the reconciler).
    "OUTAGE_PATIENCE_SECONDS": 300.0,
    # Sends in flight at once in one worker process (its send job's thread pool).
    "DISPATCH_CONCURRENCY": 100,
    # Start fans a campaign out to one job per this many recipients, up to
    # DISPATCH_MAX_JOBS, so that many worker processes can share it.
    "DISPATCH_JOB_RECIPIENTS": 500,
    "DISPATCH_MAX_JOBS": 16,
    # A send job hands the rest of its campaigns to fresh jobs after this long.
    "DISPATCH_SLICE_SECONDS": 30.0,
    # How a send job shares its DISPATCH_CONCURRENCY among the campaigns it
    # sends at once (jobs.sharing): "round-robin", equal shares, or "by-size",
    # in proportion to what each still has to send.
    "DISPATCH_SHARING": "round-robin",
    # Messages per second each channel's provider allows, across every worker
    # process on every machine; 0 is no limit.
    "SMS_RATE_LIMIT": 0.0,
    "WHATSAPP_RATE_LIMIT": 0.0,
    "EMAIL_RATE_LIMIT": 0.0,
    # "Send a test to me": tests one person may send, over every campaign
    # (each window counted from the tests themselves); then the page says when
    # the next may go. Modest, as each test is a real message to a real phone.
    "TEST_SEND_LIMIT": "5 per minute; 30 per day",
    # The most segments one SMS may take (each recipient's own text); a longer
    # message is refused when the campaign is saved, never cut.
    "SMS_MAX_SEGMENTS": 10,
    # What a message costs, in PRICE_CURRENCY: an SMS per segment, a WhatsApp
    # message or an email each. The Start dialog shows a campaign's estimate.
    "PRICE_CURRENCY": "USD",
    "SMS_PRICE": 0.0079,
    "WHATSAPP_PRICE": 0.005,
    "EMAIL_PRICE": 0.0001,
    # The most each channel may cost in a calendar month (UTC), over the
    # campaigns started in it; 0 is no budget. A Start past it is refused.
    "SMS_MONTHLY_BUDGET": 0.0,
    "WHATSAPP_MONTHLY_BUDGET": 0.0,
    "EMAIL_MONTHLY_BUDGET": 0.0,
    # POST /webhooks/inbound (replies: STOP opts out, START back in) takes
    # only requests signed with this secret (HMAC-SHA256). Empty: it answers
    # every request 503 "not configured", and production warns at start.
    "INBOUND_WEBHOOK_SECRET": "",
    # A signed request older or newer than this is refused, so a captured one
    # cannot be replayed later; within it, each signature is taken once.
    "INBOUND_WEBHOOK_TOLERANCE_SECONDS": 300.0,
    # The largest body it reads, in bytes: a reply is a few hundred.
    "INBOUND_WEBHOOK_MAX_BYTES": 64 * 1024,
    # Requests it takes per client address, signed or not; then 429.
    "INBOUND_WEBHOOK_RATE_LIMIT": "600 per minute",
    # POST /webhooks/provider/status (delivery receipts) takes only requests
    # signed with this secret, as the inbound webhook's are. Empty: it answers
    # every request 503 "not configured".
    "RECEIPTS_WEBHOOK_SECRET": "",
    "RECEIPTS_WEBHOOK_TOLERANCE_SECONDS": 300.0,
    # A body carries up to RECEIPTS_PER_REQUEST receipts (a few hundred bytes each).
    "RECEIPTS_WEBHOOK_MAX_BYTES": 1024 * 1024,
    "RECEIPTS_PER_REQUEST": 1000,
    # How often stored receipts are applied (the reconciler), and how many per
    # transaction; one naming a message never recorded as sent is forgotten
    # after RECEIPT_KEEP_SECONDS.
    "RECEIPT_APPLY_SECONDS": 0.5,
    "RECEIPT_BATCH": 5000,
    "RECEIPT_KEEP_SECONDS": 7 * 24 * 3600.0,
    # The simulated provider posts a receipt for each message it accepted to
    # this URL, after a delay between the two below (seconds); the share given
    # in PROVIDER_UNDELIVERED_RATE says undelivered. Empty: it sends none.
    "PROVIDER_RECEIPTS_URL": "",
    "PROVIDER_RECEIPT_DELAY_MIN": 1.0,
    "PROVIDER_RECEIPT_DELAY_MAX": 5.0,
    "PROVIDER_UNDELIVERED_RATE": 0.05,
    # Webhooks to other systems (app.hooks): an event's POST to an endpoint
    # that fails is tried again after a random wait of up to
    # min(cap, base × 2^(attempt − 1)) seconds, for this long after the event;
    # then it is given up (its Resend button sends it again).
    "WEBHOOK_RETRY_BASE_SECONDS": 5.0,
    "WEBHOOK_RETRY_CAP_SECONDS": 3600.0,
    "WEBHOOK_RETRY_FOR_SECONDS": 24 * 3600.0,
    # How long a POST may take to connect, and then to answer; and how much of
    # the answer is read (the rest is not, and the log keeps the start).
    "WEBHOOK_TIMEOUT_SECONDS": 5.0,
    "WEBHOOK_RESPONSE_MAX_BYTES": 4096,
    # Endpoints whose host resolves to a private, loopback, link-local or
    # otherwise internal address are refused, when registered and again at
    # each send (DNS may change in between); true allows them (tests, a
    # receiver on the same network), and plain http too.
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": False,
    # Live updates per campaign are coalesced to at most this many a second.
    "LIVE_UPDATES_PER_SECOND": 5.0,
    # How every process writes its logs: "text" (readable) or "json" (one
    # object a line, for a log collector); app.logs.
    "LOG_FORMAT": "text",
    # Worker processes `python -m jobs.worker` runs (the Procfile's default setup).
    "WORKER_PROCESSES": os.cpu_count() or 1,
    # /readyz counts a worker as gone when it has not beaten for this long;
    # workers beat every third of it (app.heartbeats), idle or busy.
    "WORKER_STALE_SECONDS": 60.0,
    "SSE_KEEPALIVE_SECONDS": 15.0,
    # How often the Operations page's machinery is read and published while
    # someone watches it (once for every watcher; app.operations.live).
    "OPERATIONS_REFRESH_SECONDS": 2.0,
    # Events waiting for one stream whose client reads slowly; past this the
    # stream is sent one refresh instead (its page reloads what it shows).
    "SSE_QUEUE_LIMIT": 50,
    # How soon a web process tries Redis again after losing its subscription,
    # and about how long browsers wait before reconnecting meanwhile.
    "SSE_RECONNECT_SECONDS": 1.0,
    # /metrics answers loopback, and anyone sending "Authorization: Bearer
    # <this>" (app.scrape). Empty: loopback only.
    "METRICS_TOKEN": "",
    # Off, nothing is counted and /metrics is not there: the benchmark's
    # comparison of throughput with and without (metrics_overhead_pct).
    "METRICS_ENABLED": True,
}


def _parse(text: str, default: Any) -> Any:
    if isinstance(default, InProduction):
        return _parse(text, default.production)
    if isinstance(default, bool):
        return text.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, dict):
        return _rates(text)
    return type(default)(text)


def _rates(text: str) -> dict[str, float]:
    """``"timeout=0.02, opted_out=0.01"`` → ``{"timeout": 0.02, "opted_out": 0.01}``."""
    rates = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _, rate = part.partition("=")
        rates[code.strip()] = float(rate)
    return rates


def psycopg2_url(url: str) -> str:
    """Pin the driver: SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3,
    and hosts hand out ``postgres://``; we ship psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Every setting, from ``environ`` where it is set, else its default; and
    what Flask and its extensions read, derived from them."""
    settings = {
        name: _parse(environ[name], default) if environ.get(name, "") != "" else default
        for name, default in DEFAULTS.items()
    }
    settings["DEFAULT_REGION"] = settings["DEFAULT_REGION"].upper()
    return {
        **settings,
        "SECRET_KEY": settings["SECRET_KEY"] or None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=settings["SESSION_HOURS"]),
        "RATELIMIT_STRATEGY": "moving-window",
        # If Redis is unreachable, count failures in each process's memory rather
        # than fail every sign-in.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # If Redis is reachable but refuses writes (full, under maxmemory with
        # noeviction), a failed sign-in it cannot count is answered as usual,
        # uncounted, rather than with an error page (the count is taken after
        # the answer, where the fallback above does not reach).
        "RATELIMIT_SWALLOW_ERRORS": True,
        "SQLALCHEMY_DATABASE_URI": psycopg2_url(settings["DATABASE_URL"]),
        # Which process this is: web, worker, reconciler (each entry point says).
        # Its connections name themselves after it in pg_stat_activity.
        "PROCESS_NAME": "app",
        # flask-sse reads SSE_REDIS_URL, so its own publish() reaches our stream too.
        "SSE_REDIS_URL": settings["REDIS_URL"],
        # A tab left open over lunch must not lose a 50,000-line paste to an
        # expired token; the session still bounds the token's life.
        "WTF_CSRF_TIME_LIMIT": None,
    }


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """SQLAlchemy's engine options: connections checked before use (they
    outlive restarts of PostgreSQL), named for pg_stat_activity, and errors
    that leave out their statement's values (a message, a password's hash),
    since errors are logged."""
    return {
        "pool_pre_ping": True,
        "hide_parameters": True,
        "connect_args": {"application_name": f"dispatcher-{config['PROCESS_NAME']}"},
        **config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }


def rate_limit(config: Mapping[str, Any], channel: str) -> float:
    """Messages per second the channel's provider allows; 0 is no limit."""
    return config[f"{channel.upper()}_RATE_LIMIT"]
