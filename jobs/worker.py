"""The RQ worker entry point: builds the app once and runs jobs inside its context.

    python -m jobs.worker [--burst]
"""
import argparse
import os

from dotenv import load_dotenv
from rq import Queue, Worker

from app import create_app
from app.extensions import db, redis


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a Campaign Dispatcher RQ worker.")
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    args = parser.parse_args()

    # The environment wins; .env (written by make run) fills in what it lacks.
    load_dotenv()
    app = create_app()
    with app.app_context():
        engine = db.engine
        # RQ forks a work horse per job; a pooled connection shared across the
        # fork would be used by two processes at once.
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        queue = Queue(app.config["RQ_QUEUE"], connection=redis.client)
        Worker([queue], connection=redis.client).work(burst=args.burst)


if __name__ == "__main__":
    main()
