"""One Redis subscription per web process, shared by every stream it serves.

A stream used to hold a Redis connection of its own from the pool requests
use, so a few hundred watchers took every connection and Start, the controls
and ``/healthz`` failed with them. Now one reader (a thread; a greenlet under
gunicorn's gevent worker) holds one pattern subscription to every campaign
channel (and contact import channel), on a connection of its own, and hands
each message to the streams watching that channel through bounded queues (``Watcher``).

Each message is split once, and its text built once per distinct view: a
stream that names the recipients its page shows (``Shows``) gets the badges
of those only, plus everything else the message carries. A stream whose
client stops reading never holds up the others: when its queue is full it is
emptied and given one ``refresh`` event instead, so the page reloads its block
from the server rather than replaying what it missed.

If Redis goes away every stream ends with a ``retry:`` hint (browsers
reconnect after it, and a page reloads its block when its stream opens again,
catching up), and new streams are refused the same way until the reader is
subscribed again. Nothing here touches the database; whether each stream's
person may still watch is asked of ``still_allowed`` for all of them at once.
"""

import bisect
import json
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_sse import Message
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)

# The channels streams can watch: campaigns, contact imports, and the
# Operations page's and the webhook endpoints' pages (a pattern without a
# wildcard is that one channel).
PATTERNS = ("campaign-*", "import-*", "operations", "webhooks")
CONNECTED = ": connected\n\n"
KEEPALIVE = ": keepalive\n\n"
# The event that makes a page reload what it shows from the server.
REFRESH_EVENT = "refresh"
BEHIND = str(Message("behind", type=REFRESH_EVENT))
# A line of an update that is one recipient's parts (campaigns/_update.html).
RECIPIENT_LINE = re.compile(r'<span id="recipient-([0-9]+)-')

# The first and last id of the recipients a page shows; None for all of them.
Shows = tuple[int, int] | None
# A stream's session token and the least role its channel needs.
Allowance = tuple[str, str]


def shows_param(ids: list[int]) -> str:
    """A page's ``shows`` as a stream's URL gives it ("101-200"); "0-0" (no
    recipient) for a page that shows none: its rows come with a reload."""
    return f"{min(ids)}-{max(ids)}" if ids else "0-0"


class Unavailable(Exception):
    """The broker is not subscribed (Redis is unreachable): no stream can be served."""


class Ended(Exception):
    """A stream is to end; ``last`` is what it sends before it does."""

    def __init__(self, last: str) -> None:
        self.last = last


def retry_hint(seconds: float) -> str:
    """What a stream sends last when Redis is gone: reconnect after a while,
    spread so a thousand pages do not all come back in the same instant."""
    return f"retry: {round(seconds * 1000 * random.uniform(1, 2))}\n\n"


class Published:
    """One published message, split once into its recipients' lines (sorted by
    id) and the rest; ``text`` builds the SSE text of one view of it, once."""

    def __init__(self, raw: bytes | str) -> None:
        message = json.loads(raw)
        self.type: str | None = message.get("type")
        self.data: str = message["data"]
        rows, self.rest = [], []
        for line in self.data.split("\n"):
            found = RECIPIENT_LINE.match(line)
            if found:
                rows.append((int(found.group(1)), line))
            else:
                self.rest.append(line)
        rows.sort()
        self.ids = [rid for rid, _ in rows]
        self.rows = [line for _, line in rows]
        self.built: dict[Shows, str] = {}

    def text(self, shows: Shows) -> str:
        if not self.ids:
            shows = None  # nothing to leave out: every view is the same
        if shows not in self.built:
            if shows is None:
                data = self.data
            else:
                first, last = bisect.bisect_left(self.ids, shows[0]), bisect.bisect_right(self.ids, shows[1])
                data = "\n".join(self.rest + self.rows[first:last])
            self.built[shows] = str(Message(data, type=self.type))
        return self.built[shows]


@dataclass(eq=False)
class Watcher:
    """One open stream: what it watches, whose session it serves and the
    least role that channel needs, and the SSE text waiting to be sent to it."""

    channel: str
    shows: Shows
    session_token: str
    role: str
    limit: int
    pending: deque[str] = field(default_factory=deque)
    ready: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set when the stream is to end, to what it sends last ("" for nothing).
    last: str | None = None
    overflows: int = 0

    def offer(self, text: str) -> None:
        with self.lock:
            if self.last is not None:
                return
            if len(self.pending) >= self.limit:
                self.pending.clear()
                self.pending.append(BEHIND)
                self.overflows += 1
            else:
                self.pending.append(text)
            self.ready.set()

    def end(self, last: str = "", drop_pending: bool = False) -> None:
        with self.lock:
            if drop_pending:
                self.pending.clear()
            if self.last is None:
                self.last = last
            self.ready.set()

    def take(self, timeout: float) -> str | None:
        """The next text to send; None when nothing came within ``timeout``.
        Raises Ended once the stream is to end."""
        if not self.ready.wait(timeout):
            return None
        with self.lock:
            if self.pending:
                text = self.pending.popleft()
                if not self.pending and self.last is None:
                    self.ready.clear()
                return text
            if self.last is not None:
                raise Ended(self.last)
            self.ready.clear()
            return None


class Broker:
    """Serves every stream of one process from one Redis subscription."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        still_allowed: Callable[[set[Allowance]], set[Allowance]],
        client_name: str = "dispatcher-web-live",
    ) -> None:
        # Read as they are needed, so a changed setting (in tests) applies at once.
        self.settings = settings
        self.still_allowed = still_allowed
        self.client_name = client_name
        self.watchers: dict[str, set[Watcher]] = {}
        # What publishes on a channel only while someone watches it, started
        # in this process by its first stream there (``produce``).
        self.producers: dict[str, Callable[[], None]] = {}
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.started = False
        self.threads: list[threading.Thread] = []
        self.stopping = threading.Event()

    @property
    def keepalive_seconds(self) -> float:
        return self.settings["SSE_KEEPALIVE_SECONDS"]

    @property
    def reconnect_seconds(self) -> float:
        return self.settings["SSE_RECONNECT_SECONDS"]

    # -- streams --------------------------------------------------------------

    def produce(self, channel: str, start: Callable[[], None]) -> None:
        """Call ``start`` (at most once matters to it) whenever a stream of
        ``channel`` opens in this process."""
        self.producers[channel] = start

    def watch(self, channel: str, shows: Shows, session_token: str, role: str = "viewer") -> Watcher:
        """A new stream's watcher, receiving from now on. Raises Unavailable
        when Redis cannot be reached."""
        self._start()
        if not self.subscribed.wait(self.reconnect_seconds * 3):
            raise Unavailable("not subscribed to Redis")
        watcher = Watcher(channel, shows, session_token, role, self.settings["SSE_QUEUE_LIMIT"])
        with self.lock:
            self.watchers.setdefault(channel, set()).add(watcher)
        if (start := self.producers.get(channel)) is not None:
            start()
        return watcher

    def leave(self, watcher: Watcher) -> None:
        with self.lock:
            watching = self.watchers.get(watcher.channel)
            if watching is not None:
                watching.discard(watcher)
                if not watching:
                    del self.watchers[watcher.channel]

    def stream(self, watcher: Watcher) -> Iterator[str]:
        """The SSE text of one stream: a comment at once, then its events, with
        a keepalive comment whenever it is quiet. Writing the keepalive is what
        finds a departed client: the server closes this generator, and the
        watcher goes with it."""
        try:
            yield CONNECTED
            while True:
                try:
                    text = watcher.take(self.keepalive_seconds)
                except Ended as end:
                    if end.last:
                        yield end.last
                    return
                yield KEEPALIVE if text is None else text
        finally:
            self.leave(watcher)

    def watching(self, channel: str | None = None) -> int:
        """Streams open in this process, on ``channel`` or on any."""
        with self.lock:
            if channel is not None:
                return len(self.watchers.get(channel, ()))
            return sum(len(watchers) for watchers in self.watchers.values())

    # -- the reader -------------------------------------------------------------

    def _start(self) -> None:
        with self.lock:
            if self.started:
                return
            self.started = True
        self.threads = [
            threading.Thread(target=self._read, name="live-broker", daemon=True),
            threading.Thread(target=self._check_sessions, name="live-sessions", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End every stream, and return once the reader has let go of Redis:
        the Redis it used may be stopped next (tests do)."""
        self.stopping.set()
        self._end_all(drop_pending=False)
        for thread in self.threads:
            thread.join(timeout)

    def _read(self) -> None:
        while not self.stopping.is_set():
            # No retries inside redis-py: a reconnection it made on its own
            # would resubscribe silently, and what was published meanwhile
            # would be missing from pages that believe they are live.
            client = Redis.from_url(
                self.settings["REDIS_URL"],
                client_name=self.client_name,
                retry=Retry(NoBackoff(), 0),
                health_check_interval=10,
            )
            pubsub = client.pubsub()
            try:
                pubsub.psubscribe(*PATTERNS)
                for _ in PATTERNS:
                    confirmed = pubsub.get_message(timeout=self.reconnect_seconds * 3)
                    if confirmed is None or confirmed["type"] != "psubscribe":
                        raise RedisError("the subscription was not confirmed")
                self.subscribed.set()
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "pmessage":
                        self._deliver(message["channel"].decode(), message["data"])
            except RedisError as error:
                log.warning("live updates: Redis subscription lost (%s); ending streams, reconnecting", error)
            finally:
                self.subscribed.clear()
                self._end_all(drop_pending=False)
                pubsub.close()
                client.close()
            self.stopping.wait(self.reconnect_seconds)

    def _deliver(self, channel: str, raw: bytes) -> None:
        with self.lock:
            watchers = list(self.watchers.get(channel, ()))
        if not watchers:
            return
        try:
            published = Published(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("live updates: %s carried a message not in flask-sse's format", channel)
            return
        for watcher in watchers:
            watcher.offer(published.text(watcher.shows))

    def _end_all(self, drop_pending: bool) -> None:
        with self.lock:
            watchers = [w for channel in self.watchers.values() for w in channel]
        for watcher in watchers:
            watcher.end(retry_hint(self.reconnect_seconds), drop_pending=drop_pending)

    def _check_sessions(self) -> None:
        """Every keepalive interval, one question for all streams: whose
        session still stands, with the role their channel needs? Signing out
        everywhere, a new password and deactivation replace the token, and
        end that person's streams; so does a role taken away."""
        checked_at = time.monotonic()
        while not self.stopping.wait(min(self.keepalive_seconds, 1.0)):
            if time.monotonic() - checked_at < self.keepalive_seconds:
                continue
            checked_at = time.monotonic()
            with self.lock:
                watchers = [w for channel in self.watchers.values() for w in channel]
            if not watchers:
                continue
            try:
                allowed = self.still_allowed({(w.session_token, w.role) for w in watchers})
            except Exception:  # a database that is down must not end every stream
                log.warning("live updates: could not check who is still signed in", exc_info=True)
                continue
            for watcher in watchers:
                if (watcher.session_token, watcher.role) not in allowed:
                    watcher.end(drop_pending=True)
