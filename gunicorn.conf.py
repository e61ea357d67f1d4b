"""gunicorn's hooks, beside the Procfile's command line (which names this file)."""

import os


def child_exit(server, worker) -> None:
    """A worker that exits takes its open streams with it: its share of
    ``dispatcher_sse_streams_open`` goes too (``app.metrics``). Counters stay."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
