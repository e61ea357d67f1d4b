"""Settings, read from the environment with safe development defaults."""

import os
from datetime import timedelta


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def psycopg2_url(url: str) -> str:
    """Pin the driver: SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3,
    and hosts hand out ``postgres://``; we ship psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def _env_rates(name: str) -> dict[str, float]:
    """``"timeout=0.02, opted_out=0.01"`` → ``{"timeout": 0.02, "opted_out": 0.01}``."""
    rates = {}
    for part in filter(None, (p.strip() for p in os.environ.get(name, "").split(","))):
        code, _, rate = part.partition("=")
        rates[code.strip()] = float(rate)
    return rates


class Config:
    """Read once per process; tests pass overrides to ``create_app``."""

    def __init__(self) -> None:
        # No default: outside development the app refuses to start without one
        # (see app.security.check_secret_key).
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or None
        self.APP_ENV = os.environ.get("APP_ENV", "production")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
        # Sliding: every request renews it, so a day of idleness signs a person out.
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=_env_float("SESSION_HOURS", 12))
        self.RATELIMIT_STRATEGY = "moving-window"
        # If Redis is unreachable, count failures in each process's memory rather
        # than fail every sign-in.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        # How many reverse proxies in front set X-Forwarded-For / -Proto; 0 trusts
        # none. Sign-in throttling counts per client address, so behind a proxy set it.
        self.TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
        self.SIGN_IN_FAILURE_LIMIT = os.environ.get("SIGN_IN_FAILURE_LIMIT", "5 per minute")
        self.SQLALCHEMY_DATABASE_URI = psycopg2_url(
            os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/dispatcher")
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        # flask-sse reads SSE_REDIS_URL, so its own publish() reaches our stream too.
        self.SSE_REDIS_URL = self.REDIS_URL

        # A tab left open over lunch must not lose a 50,000-line paste to an
        # expired token; the session still bounds the token's life.
        self.WTF_CSRF_TIME_LIMIT = None
        # Werkzeug refuses form fields over 500 kB by default: about 10,000 pasted lines.
        self.MAX_FORM_MEMORY_SIZE = _env_int("MAX_FORM_MEMORY_SIZE", 16 * 1024 * 1024)
        self.MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 20 * 1024 * 1024)

        self.DEFAULT_REGION = os.environ.get("DEFAULT_REGION", "US").upper()
        self.RECIPIENT_LINE_LIMIT = _env_int("RECIPIENT_LINE_LIMIT", 50_000)
        self.RECIPIENTS_PER_PAGE = _env_int("RECIPIENTS_PER_PAGE", 100)
        self.CAMPAIGNS_PER_PAGE = _env_int("CAMPAIGNS_PER_PAGE", 25)

        self.RQ_QUEUE = os.environ.get("RQ_QUEUE", "dispatch")
        self.PROVIDER_LATENCY_MIN = _env_float("PROVIDER_LATENCY_MIN", 1.0)
        self.PROVIDER_LATENCY_MAX = _env_float("PROVIDER_LATENCY_MAX", 3.0)
        # The share of sends that fail, spread evenly over the provider's six
        # kinds of error; PROVIDER_ERROR_RATES ("timeout=0.02,opted_out=0.01")
        # sets each kind's rate instead (see jobs.provider.ERRORS).
        self.PROVIDER_FAILURE_RATE = _env_float("PROVIDER_FAILURE_RATE", 0.08)
        self.PROVIDER_ERROR_RATES = _env_rates("PROVIDER_ERROR_RATES")
        # The simulated provider's ledger of idempotency keys. A real provider
        # keeps its own; point this at another Redis to model that. Unset, it
        # is REDIS_URL.
        self.PROVIDER_LEDGER_URL = os.environ.get("PROVIDER_LEDGER_URL") or None
        # Transient failures are retried after a random delay of up to
        # min(cap, base × 2^(attempt − 1)) seconds ("full jitter"), up to
        # RETRY_MAX_ATTEMPTS attempts in all.
        self.RETRY_BASE_SECONDS = _env_float("RETRY_BASE_SECONDS", 2.0)
        self.RETRY_CAP_SECONDS = _env_float("RETRY_CAP_SECONDS", 60.0)
        self.RETRY_MAX_ATTEMPTS = _env_int("RETRY_MAX_ATTEMPTS", 3)
        # A claimed recipient belongs to its worker this long; if the worker
        # dies, the reconciler puts it back in the queue after that. Longer
        # than any send takes.
        self.LEASE_SECONDS = _env_float("LEASE_SECONDS", 60.0)
        # How often the reconciler in each `python -m jobs.worker` looks for
        # expired leases, due retries and campaigns whose jobs were lost.
        self.RECONCILE_SECONDS = _env_float("RECONCILE_SECONDS", 2.0)
        # A campaign pauses itself when at least this share of its last
        # AUTO_PAUSE_WINDOW attempts failed; 0 turns it off.
        self.AUTO_PAUSE_FAILURE_RATE = _env_float("AUTO_PAUSE_FAILURE_RATE", 0.5)
        self.AUTO_PAUSE_WINDOW = _env_int("AUTO_PAUSE_WINDOW", 50)
        # A dispatch job waits this long for PostgreSQL or Redis to come back
        # before it gives up (and leaves its campaign to the reconciler).
        self.OUTAGE_PATIENCE_SECONDS = _env_float("OUTAGE_PATIENCE_SECONDS", 300.0)
        # Sends in flight at once in one worker process (its dispatch job's thread pool).
        self.DISPATCH_CONCURRENCY = _env_int("DISPATCH_CONCURRENCY", 100)
        # Start fans a campaign out to one job per this many recipients, up to
        # DISPATCH_MAX_JOBS, so that many worker processes can share it.
        self.DISPATCH_JOB_RECIPIENTS = _env_int("DISPATCH_JOB_RECIPIENTS", 500)
        self.DISPATCH_MAX_JOBS = _env_int("DISPATCH_MAX_JOBS", 16)
        # A dispatch job hands the rest of its campaign to a fresh job after this
        # long, so campaigns started later get a worker too.
        self.DISPATCH_SLICE_SECONDS = _env_float("DISPATCH_SLICE_SECONDS", 30.0)
        # Messages per second each channel's provider allows, across every
        # worker process on every machine; 0 is no limit.
        self.RATE_LIMITS = {
            channel: _env_float(f"{channel.upper()}_RATE_LIMIT", 0.0) for channel in ("sms", "whatsapp", "email")
        }
        # Live updates per campaign are coalesced to at most this many a second.
        self.LIVE_UPDATES_PER_SECOND = _env_float("LIVE_UPDATES_PER_SECOND", 5.0)
        # Worker processes `python -m jobs.worker` runs (the Procfile's default setup).
        self.WORKER_PROCESSES = _env_int("WORKER_PROCESSES", os.cpu_count() or 1)
        self.SSE_KEEPALIVE_SECONDS = _env_float("SSE_KEEPALIVE_SECONDS", 15.0)
