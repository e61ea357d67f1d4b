"""The real parts the benchmark drives: servers, the Procfile's processes, a
signed-in HTTP session and an SSE client on the real stream."""

import os
import subprocess
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import psutil
from redis import Redis
from rq import Worker

from devtools import embedded, procfile

ROOT = Path(__file__).resolve().parent.parent


def servers(stack: ExitStack) -> tuple[str, str]:
    """PostgreSQL and Redis: BENCH_DATABASE_URL / BENCH_REDIS_URL, else embedded ones."""
    database_url = os.environ.get("BENCH_DATABASE_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL")
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dispatcher-bench-")))
    if not database_url:
        postgres = embedded.start_postgres(workdir / "pg", database="bench")
        stack.callback(postgres.stop)
        database_url = postgres.url
    if not redis_url:
        redis_server = embedded.start_redis(workdir / "redis")
        stack.callback(redis_server.stop)
        redis_url = redis_server.url
    return database_url, redis_url


def start_web(stack: ExitStack, env: dict) -> tuple[str, subprocess.Popen]:
    """The Procfile's web process (gunicorn, gevent workers): its base URL, and it."""
    web, base_url = procfile.start_web(env)
    stack.callback(procfile.stop, web, quick=True)
    return base_url, web


def rss_mb(process: subprocess.Popen) -> float:
    """Resident memory of a process and all its children (gunicorn's master and workers)."""
    root = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


class Workers:
    """``python -m jobs.worker`` (RQ's WorkerPool), started and stopped around one measurement."""

    def __init__(self, env: dict, redis_url: str, queue: str, processes: int | None = None, **settings: str) -> None:
        self.env = {**env, **settings}
        self.processes = processes
        self.redis = Redis.from_url(redis_url)
        self.queue = queue
        self.peak_rss_mb = 0.0

    def __enter__(self) -> "Workers":
        command = procfile.command("worker", self.env)
        if self.processes is not None:
            command += ["--processes", str(self.processes)]
        self.log = open(os.environ.get("BENCH_WORKER_LOG", os.devnull), "a")
        self.pool = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        expected = self.processes or os.cpu_count()
        deadline = time.monotonic() + 30
        while self._ready() < expected:
            if time.monotonic() > deadline or self.pool.poll() is not None:
                said = "still running" if self.pool.poll() is None else f"exited with {self.pool.returncode}"
                raise RuntimeError(
                    f"{self._ready()} of {expected} workers registered within 30 s; the pool {said}"
                    " (BENCH_WORKER_LOG=path keeps its output)"
                )
            time.sleep(0.1)
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()
        return self

    def _ready(self) -> int:
        """This pool's workers that have registered with RQ (a previous pool's may linger)."""
        try:
            ours = {child.pid for child in psutil.Process(self.pool.pid).children()}
        except psutil.NoSuchProcess:
            return 0
        return sum(worker.pid in ours for worker in Worker.all(connection=self.redis))

    def _sample_rss(self) -> None:
        """Peak resident memory of the busiest worker process with its work horse."""
        pool = psutil.Process(self.pool.pid)
        while self._sampling:
            try:
                for worker in pool.children():
                    tree = [worker, *worker.children(recursive=True)]
                    rss = sum(p.memory_info().rss for p in tree) / 2**20
                    self.peak_rss_mb = max(self.peak_rss_mb, rss)
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self._sampling = False
        self._sampler.join()
        procfile.stop(self.pool)
        self.log.close()
        deadline = time.monotonic() + 10
        while Worker.count(connection=self.redis) and time.monotonic() < deadline:
            time.sleep(0.1)


class Periodic:
    """One of the Procfile's processes besides web and worker (``scheduler``,
    ``reconciler``, ``receipts``), started and stopped around one measurement."""

    def __init__(self, name: str, env: dict, **settings: str) -> None:
        self.name = name
        self.env = {**env, **settings}

    def __enter__(self) -> "Periodic":
        self.process = procfile.start(self.name, self.env)
        return self

    def __exit__(self, *exc) -> None:
        procfile.stop(self.process)
