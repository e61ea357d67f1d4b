"""gunicorn's settings beyond the Procfile's command line (which names this
file): its own logs (the master's, and a line for each request) written as
every process writes its logs (``app/logs.py``, ``LOG_FORMAT``), and the
metrics of a worker that exits (``child_exit``).

``app/logs.py`` is loaded by its path, not imported as ``app.logs``: that
would import the whole app into the master, before a gevent worker patches
the standard library. Each worker configures its logs again as it loads
``wsgi.py``; gunicorn's loggers hand their records to whichever handler the
process has.
"""

import importlib.util
import os
from pathlib import Path

from dotenv import load_dotenv
from gunicorn.glogging import Logger

_spec = importlib.util.spec_from_file_location("dispatcher_logs", Path(__file__).parent / "app" / "logs.py")
assert _spec is not None and _spec.loader is not None
logs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(logs)

# The environment wins; .env (written by make run) fills in what it lacks.
load_dotenv()
logs.configure("web", os.environ.get("LOG_FORMAT", ""))


class DispatcherLogger(Logger):
    """gunicorn's error and access logs through the process's handler. A
    request's line names its method, path (never its query, which can hold
    what a person searched for), status, time and request id; no header."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
                log.removeHandler(handler)
            log.propagate = True

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        headers = {name.lower(): value for name, value in resp.headers}
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", "-")
        milliseconds = round(request_time.total_seconds() * 1000, 1)
        self.access_log.info(
            "%s %s %s %.0f ms",
            method,
            path,
            status,
            milliseconds,
            extra={
                "method": method,
                "path": path,
                "status": int(status),
                "duration_ms": milliseconds,
                "remote_addr": environ.get("REMOTE_ADDR"),
                "request_id": headers.get("x-request-id"),
            },
        )


logger_class = DispatcherLogger


def child_exit(server, worker) -> None:
    """A worker that exits takes its open streams with it: its share of
    ``dispatcher_sse_streams_open`` goes too (``app.metrics``). Counters stay."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
