"""The RQ worker entry point: a pool of worker processes that run jobs inside the app's context.

    python -m jobs.worker [--processes N] [--burst]

Each process keeps up to DISPATCH_CONCURRENCY sends in flight, so more
processes, here or on other machines pointed at the same Redis and
PostgreSQL, are more throughput. RQ's WorkerPool starts them and replaces any
that dies.
"""

import argparse
import os

from dotenv import load_dotenv
from flask import Flask
from rq import Queue, Worker
from rq.job import Job
from rq.worker_pool import WorkerPool

from app import config, create_app, heartbeats, logs, metrics
from app.extensions import db, redis


class AppWorker(Worker):
    """An RQ worker whose jobs run inside the app's context, and which beats
    often enough for readiness to tell it alive (``app.heartbeats``): RQ's
    default is every 405 s while idle and 30 s while busy."""

    app: Flask

    def __init__(self, *args, **kwargs) -> None:
        stale = self.app.config["WORKER_STALE_SECONDS"]
        kwargs.setdefault("worker_ttl", heartbeats.worker_ttl(stale))
        kwargs.setdefault("job_monitoring_interval", heartbeats.worker_beat_seconds(stale))
        super().__init__(*args, **kwargs)

    def work(self, *args, **kwargs) -> bool:
        with self.app.app_context():
            return super().work(*args, **kwargs)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Every line about the job, its work horse's included, carries its id."""
        with logs.context(job_id=job.id):
            super().execute_job(job, queue)

    def main_work_horse(self, *args, **kwargs) -> None:
        # Its counts go to its worker's files (app.metrics), not to new ones per job.
        metrics.in_work_horse()
        super().main_work_horse(*args, **kwargs)


def main() -> None:
    # The environment wins; .env (written by make run) fills in what it lacks.
    load_dotenv()
    # Before RQ starts: it then adds no handler of its own, and its workers
    # and work horses, forked from here, log the same way.
    logs.configure("worker", config.from_environment()["LOG_FORMAT"])
    app = create_app({"PROCESS_NAME": "worker"})
    parser = argparse.ArgumentParser(description="Run Campaign Dispatcher's RQ worker processes.")
    parser.add_argument(
        "--processes",
        type=int,
        default=app.config["WORKER_PROCESSES"],
        help="worker processes to run (default: WORKER_PROCESSES, else one per core)",
    )
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    args = parser.parse_args()

    with app.app_context():
        engine = db.engine
        connection = redis.client
    # Workers fork from this process, and RQ forks a work horse per job; a
    # pooled connection shared across a fork would be used by two processes at once.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    AppWorker.app = app
    pool = WorkerPool(
        [app.config["RQ_QUEUE"]], connection=connection, num_workers=args.processes, worker_class=AppWorker
    )
    pool.start(burst=args.burst)


if __name__ == "__main__":
    main()
