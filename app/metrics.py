"""What the processes count for Prometheus; ``/metrics`` (``app.scrape``) serves it.

With ``PROMETHEUS_MULTIPROC_DIR`` set (prometheus-client's own setting, read
when it is imported), every process writes its values to files of its own in
that directory, and ``/metrics`` adds up all of them: gunicorn's workers, the
worker pool's processes and the work horses RQ forks for each job. Counts of a
process that has exited stay counted, as its files stay. Whoever starts the
processes empties the directory first (``make run`` does); gunicorn removes a
dead worker's open-streams gauge (``gunicorn.conf.py``), the one value that
must not outlive its process. Unset, each process keeps its values in memory,
as tests and a single process want.

A work horse writes to its worker's files rather than files of its own (the
worker itself counts nothing, and runs one horse at a time), so the directory
holds a few files per process the pool started, not a few per job run.

``METRICS_ENABLED`` false (the benchmark's comparison) makes every function
here do nothing.
"""

import os
from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram, values
from sqlalchemy import event
from sqlalchemy.orm import Session

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
# Off only to measure what counting costs.
enabled = True

# Set in a work horse: the worker process it writes its values for.
_horse_of: int | None = None


def _process_identity() -> str:
    return f"{_horse_of}-horse" if _horse_of is not None else str(os.getpid())


if MULTIPROCESS:
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identity)
else:
    # prometheus-client takes the variable set but empty for a directory (the current one).
    values.ValueClass = values.MutexValue


def in_work_horse() -> None:
    """Called first thing in a work horse RQ forked from its worker."""
    global _horse_of
    _horse_of = os.getppid()


MESSAGES = Counter(
    "dispatcher_messages",
    "Recipients' outcomes as recorded: the status each attempt (or a skip) left its recipient in.",
    ["channel", "outcome", "error_code"],
)
PROVIDER_LATENCY = Histogram(
    "dispatcher_provider_latency_seconds", "How long one call to the provider took.", ["channel"]
)
SEND_LOOP_TURN = Histogram(
    "dispatcher_send_loop_turn_seconds",
    "One turn of a send job's loop: outcomes recorded, recipients claimed, calls handed out (not the wait).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_REQUEST_DURATION = Histogram(
    "dispatcher_http_request_duration_seconds",
    "Time from a request's start to its response, by Flask endpoint (event streams left out).",
    ["endpoint", "method", "status"],
)
SSE_STREAMS_OPEN = Gauge("dispatcher_sse_streams_open", "Event streams open now.", multiprocess_mode="livesum")

# Any other method is counted as "other": a client could otherwise make a label value of its own choosing.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


# Outcomes written in a session's transaction, counted once it commits.
PENDING = "dispatcher.metrics.messages"


def count_messages_on_commit(session: Session, channel: str, outcomes: Tally[tuple[str, str]]) -> None:
    """Count recipients' outcomes, each a status and its error code ("" for
    none), when ``session`` commits what recorded them; a rollback drops them."""
    outcomes = +outcomes  # none of a kind is not a series
    if enabled and outcomes:
        session.info.setdefault(PENDING, []).append((channel, outcomes))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for channel, outcomes in session.info.pop(PENDING, []):
        for (outcome, error_code), amount in outcomes.items():
            MESSAGES.labels(channel, outcome, error_code).inc(amount)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(PENDING, None)


def observe_provider(channel: str, seconds: float) -> None:
    if enabled:
        PROVIDER_LATENCY.labels(channel).observe(seconds)


def observe_turn(seconds: float) -> None:
    if enabled:
        SEND_LOOP_TURN.observe(seconds)


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    if enabled:
        method = method if method in METHODS else "other"
        HTTP_REQUEST_DURATION.labels(endpoint, method, str(status)).observe(seconds)


def counted_stream(stream: Iterator[str]) -> Iterator[str]:
    """``stream``, counted as open from its first message until it ends."""
    if not enabled:
        yield from stream
        return
    SSE_STREAMS_OPEN.inc()
    try:
        yield from stream
    finally:
        SSE_STREAMS_OPEN.dec()
