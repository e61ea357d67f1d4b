"""The Operations page's live machinery: read once for every watcher, and
published on the ``operations`` channel, through the same broker as
campaign pages.

A web process starts its publisher when its first Operations stream opens
(``Broker.produce``). Every OPERATIONS_REFRESH_SECONDS, a publisher whose
process has a stream open takes a Redis lock for most of the interval; the
one that gets it reads the machinery (``machinery.read``), renders it and
publishes it, and every process's broker hands it to its streams. So the
machinery is read once an interval, whoever and however many watch, and not
at all when nobody does; never once per viewer.

Watching from the web processes rather than the periodic ones keeps the page
true when those are down, which is when it is most needed.
"""

import logging
import threading
import time

from flask import Flask, render_template

from app.extensions import db, redis
from app.live.broker import Broker
from app.live.channel import publish
from app.operations import machinery

log = logging.getLogger(__name__)

CHANNEL = "operations"
EVENT = "machinery"
LOCK_KEY = "dispatch:operations:publisher"


def render(found: machinery.Machinery) -> str:
    """The machinery block, as the page includes it and the stream brings it."""
    return render_template("operations/_machinery.html", machinery=found)


class Publisher:
    """One per web process; its thread starts with the process's first Operations stream."""

    def __init__(self, app: Flask, broker: Broker) -> None:
        self.app = app
        self.broker = broker
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="operations-publisher", daemon=True)
                self.thread.start()

    @property
    def interval(self) -> float:
        return self.app.config["OPERATIONS_REFRESH_SECONDS"]

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            if not self.broker.watching(CHANNEL):
                continue
            try:
                self.publish_once()
            except Exception:  # the next interval tries again; the page says how old its figures are
                log.warning("operations: the machinery was not published", exc_info=True)

    def publish_once(self) -> bool:
        """Read, render and publish the machinery, unless another process did
        this interval; returns whether this one did."""
        with self.app.app_context():
            client = redis.client
            if not client.set(LOCK_KEY, "1", nx=True, px=max(int(self.interval * 900), 1)):
                return False
            # url_for needs a request; the block links only to pages, never to the person.
            with self.app.test_request_context("/operations"):
                html = render(machinery.read())
            db.session.remove()
            publish(client, CHANNEL, html, type=EVENT)
            return True
