"""Logs: every process writes one line a record to stderr, readable
(``LOG_FORMAT=text``, the default) or one JSON object a line (``json``).

Each process's entry point calls ``configure`` once, before it builds the app,
so that its libraries' records (gunicorn's, RQ's, Flask's) take the same way.
What a line is about (a request, a person, a campaign, a job, a periodic task)
is said for a stretch of work with ``context`` (or ``begin`` and ``end``
around a request), and ``ContextFilter`` adds it to every record logged
meanwhile: call sites pass no ids.

Nothing secret, and no message a campaign sends, is written on purpose; as a
second line of defence ``redact`` masks what looks like an API token or a
bearer credential in every line. Errors from SQLAlchemy leave out their
statement's parameters (``app.config.engine_options``).

Standard library only: gunicorn's master process loads this file
(``gunicorn.conf.py``) without importing the app.
"""

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# What a line may say it is about, set by ``context``.
IDS = ("request_id", "user_id", "campaign_id", "job_id", "task")
# What a record may carry in ``extra``: gunicorn's line for each request.
FIELDS = ("method", "path", "status", "duration_ms", "remote_addr")
_ids: ContextVar[dict[str, object]] = ContextVar("log_ids", default={})  # noqa: B039 (replaced, never changed)

# Said at INFO at every start, by every process, and of no use to anyone running it.
QUIET = ("alembic.runtime.plugins",)
# An API token (app.tokens.models.PREFIX) or any credential after "Bearer".
SECRETS = re.compile(r"\b(cdt_)[A-Za-z0-9_-]{8,}|\b(Bearer\s+)\S+", re.IGNORECASE)


def redact(text: str) -> str:
    return SECRETS.sub(lambda m: (m[1] or m[2]) + "[redacted]", text)


@contextmanager
def context(**ids: object) -> Iterator[None]:
    """Every line logged inside the block carries ``ids`` (``campaign_id=5``)."""
    token = begin(**ids)
    try:
        yield
    finally:
        end(token)


def begin(**ids: object) -> Token:
    """``context`` for a stretch that is not one block (a request's hooks); ``end`` it with the token."""
    return _ids.set({**_ids.get(), **ids})


def end(token: Token) -> None:
    _ids.reset(token)


def add(**ids: object) -> None:
    """Add ``ids`` for the rest of the current stretch (learnt part-way through a request)."""
    _ids.set({**_ids.get(), **ids})


class ContextFilter(logging.Filter):
    """Puts the process's name and the current ids on every record."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self.process
        for name, value in _ids.get().items():
            # An id the call gave in ``extra`` wins.
            record.__dict__.setdefault(name, value)
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message,
    process, pid, the ids and fields that apply, and an exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": getattr(record, "process_name", None),
            "pid": record.process,
        }
        for name in (*IDS, *FIELDS):
            if (value := getattr(record, name, None)) is not None:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return redact(json.dumps(line, default=str))


def handler(process: str, log_format: str, stream: Any = None) -> logging.Handler:
    """The handler ``configure`` gives the root logger, for a test to use on its own stream."""
    chosen = (log_format or "text").strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"LOG_FORMAT is {log_format!r}; it may be {' or '.join(FORMATS)}")
    made = logging.StreamHandler(sys.stderr if stream is None else stream)
    made.addFilter(ContextFilter(process))
    made.setFormatter(JsonFormatter() if chosen == "json" else TextFormatter())
    return made


def configure(process: str, log_format: str) -> None:
    """Every record of this process, its own and its libraries', at INFO and
    above, through one handler in ``log_format`` (``LOG_FORMAT``: text or json)
    to stderr; so are warnings and uncaught exceptions."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(process, log_format))
    root.setLevel(logging.INFO)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    uncaught = logging.getLogger(process)

    def log_uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            uncaught.info("interrupted")
            return
        uncaught.critical("uncaught %s", kind.__name__, exc_info=(kind, error, trace))

    def log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            name = args.thread.name if args.thread else "a thread"
            uncaught.error("uncaught %s in %s", args.exc_type.__name__, name, exc_info=args.exc_value)

    sys.excepthook = log_uncaught
    threading.excepthook = log_uncaught_in_thread
