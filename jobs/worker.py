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
from rq import Worker
from rq.worker_pool import WorkerPool

from app import create_app, metrics
from app.extensions import db, redis


class AppWorker(Worker):
    """An RQ worker whose jobs run inside the app's context."""

    app: Flask

    def work(self, *args, **kwargs) -> bool:
        with self.app.app_context():
            return super().work(*args, **kwargs)

    def main_work_horse(self, *args, **kwargs) -> None:
        # Its counts go to its worker's files (app.metrics), not to new ones per job.
        metrics.in_work_horse()
        super().main_work_horse(*args, **kwargs)


def main() -> None:
    # The environment wins; .env (written by make run) fills in what it lacks.
    load_dotenv()
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
