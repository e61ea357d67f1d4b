"""Who is running: the heartbeats of the worker and periodic processes, and
the readers that tell whether each reported in time. The one home of this
protocol; ``jobs.periodic`` and ``jobs.worker`` write it, ``/readyz`` and
the API's health read it.

Heartbeats go to Redis with an expiry, never to PostgreSQL: they are written
every few seconds, and one lost only makes a process look quiet for a while.

- **Periodic processes** (``jobs.periodic``'s loop): after each task run,
  ``record_pass`` notes it in the hash ``dispatch:periodic:passes`` (field:
  the task's name; value: compact JSON ``{"process", "at", "ok",
  "seconds", "every"}``, ``at`` in Unix seconds, ``every`` the task's
  interval). At every turn of the loop, and with
  each pass, ``keep_alive`` sets ``dispatch:periodic:process:<process>``
  again, to expire after ``process_ttl`` (3× the process's smallest
  interval, at least 10 s); the loop wakes at least three times as often. A
  process whose key is gone has stopped, or has been stuck in one task
  that long.
- **Workers**: RQ's own registry (``rq:workers:<queue>``, each worker's
  ``last_heartbeat``). A worker counts as alive when it beat within
  WORKER_STALE_SECONDS; ``jobs.worker`` has RQ beat every third of that,
  idle or busy (``worker_beat_seconds``).

A writer skips a heartbeat it cannot write: no work waits for one.
"""

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask
from redis import Redis
from rq import Queue, Worker
from rq.worker import BaseWorker

# The processes of jobs.periodic's table (app may not import jobs;
# tests/test_readiness.py checks that the two agree). Each must be running.
PERIODIC_PROCESSES = ("reconciler", "scheduler")
PASSES_KEY = "dispatch:periodic:passes"
# A process's key outlives a few of its loop's turns, and never less than
# this: a loop backing off through an outage waits up to 10 s for its tasks.
PROCESS_TTL_MIN_SECONDS = 10.0
WRITE_TIMEOUT_SECONDS = 1.0


def writer(app: Flask) -> Redis:
    """The process's client for its heartbeats, which gives up on a Redis that
    does not answer (a network partition, rather than a refusal) within a second."""
    client = app.extensions.get("heartbeat-redis")
    if client is None:
        client = app.extensions["heartbeat-redis"] = Redis.from_url(
            app.config["REDIS_URL"],
            socket_timeout=WRITE_TIMEOUT_SECONDS,
            socket_connect_timeout=WRITE_TIMEOUT_SECONDS,
            client_name=f"dispatcher-{app.config['PROCESS_NAME']}-heartbeat",
        )
    return client


def process_key(process: str) -> str:
    """Set by each turn of a periodic process's loop; gone when none has turned for a while."""
    return f"dispatch:periodic:process:{process}"


def process_ttl(intervals: Iterable[float]) -> float:
    """How long a periodic process's key lasts, from its tasks' intervals."""
    return max(3 * min(intervals), PROCESS_TTL_MIN_SECONDS)


@dataclass(frozen=True)
class Pass:
    """A periodic task's last run: by which process, when it started (Unix
    seconds), whether it worked, how long it took, and how often the task
    runs (0 when its process did not say)."""

    process: str
    at: float
    ok: bool
    seconds: float
    every: float = 0.0

    def late(self, now_epoch: float) -> bool:
        """Whether the next run is overdue: by as long as its process's
        heartbeat lasts (``process_ttl``), so a task is late when its process
        would count as gone had it run nothing else."""
        return self.every > 0 and now_epoch - self.at > process_ttl([self.every]) + self.every


def record_pass(
    client: Redis, process: str, task_name: str, at_epoch: float, ok: bool, seconds: float, every: float
) -> None:
    value = {"process": process, "at": round(at_epoch, 3), "ok": ok, "seconds": round(seconds, 3), "every": every}
    client.hset(PASSES_KEY, task_name, json.dumps(value, separators=(",", ":")))


def keep_alive(client: Redis, process: str, ttl: float) -> None:
    """Says that ``process`` is running, for ``ttl`` seconds; the value is when, in Unix seconds."""
    client.set(process_key(process), f"{time.time():.3f}", px=max(int(ttl * 1000), 1))


def periodic_passes(client: Redis) -> dict[str, Pass]:
    """Each periodic task's last run, by task name."""
    passes = client.hgetall(PASSES_KEY).items()
    return {(name.decode() if isinstance(name, bytes) else name): Pass(**json.loads(value)) for name, value in passes}


def periodic_processes_alive(client: Redis, processes: Iterable[str] = PERIODIC_PROCESSES) -> set[str]:
    """Those of ``processes`` whose loop turned lately (their key has not expired)."""
    processes = list(processes)
    beats = client.mget([process_key(process) for process in processes])
    return {process for process, beat in zip(processes, beats, strict=True) if beat is not None}


def worker_beat_seconds(stale_seconds: float) -> int:
    """How often an RQ worker beats: a third of the time after which it counts
    as gone, so that a late beat or two does not count it gone. Whole
    seconds, as RQ counts them."""
    return max(int(stale_seconds / 3), 1)


def worker_ttl(stale_seconds: float) -> int:
    """RQ's ``worker_ttl`` that makes an idle worker beat every
    ``worker_beat_seconds``: it waits for a job ``worker_ttl - 15`` seconds at
    a time, and beats between two waits."""
    return worker_beat_seconds(stale_seconds) + 15


def workers_alive(client: Redis, queue_name: str, stale_seconds: float) -> list[BaseWorker]:
    """The RQ workers of the queue that beat within the last ``stale_seconds``
    (by this machine's clock: workers elsewhere need theirs in step)."""
    return [worker for worker in workers(client, queue_name) if not stale(worker, stale_seconds)]


def workers(client: Redis, queue_name: str) -> list[BaseWorker]:
    """Every RQ worker registered for the queue, silent ones too: RQ forgets a
    worker only some time after its last beat."""
    return Worker.all(queue=Queue(queue_name, connection=client))


def stale(worker: BaseWorker, stale_seconds: float) -> bool:
    """Whether the worker has not beaten within the last ``stale_seconds``."""
    since = datetime.now(UTC) - timedelta(seconds=stale_seconds)
    return worker.last_heartbeat is None or worker.last_heartbeat < since
