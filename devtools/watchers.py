"""Many live streams at once, read as browsers' EventSources read them, on one
asyncio loop in a thread: for the watchers benchmark and the tests that open
more streams than any connection pool holds.

Each stream notes what a page would show of it: when it connected, when each
update (by the campaign row version in its header) arrived, how many refresh
events it was sent, and the last update's text. Events are found by their
blank-line boundary and their version by one regular expression over the
event, without parsing lines: at a thousand streams the reader must not be
what is measured.
"""

import asyncio
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

EVENT = re.compile(r"event: ?(\w+)")
VERSION = re.compile(r'data-version="([0-9]+)"')


@dataclass(eq=False)
class Watch:
    """One stream of one page: ``/stream?channel=…[&shows=…]``."""

    channel: str
    shows: str | None = None
    status: int | None = None
    connected_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    updates: int = 0
    refreshes: int = 0
    # Refreshes that said the stream fell behind (its queue overflowed).
    behind: int = 0
    bytes: int = 0
    last_update: str = ""
    # The update with the newest campaign version: what a page shows, since
    # live.js drops an update older than its header (updates from several
    # processes can arrive out of order).
    newest_update: str = ""
    # Campaign row version → time.monotonic() when the update carrying it arrived.
    received: dict[int, float] = field(default_factory=dict)
    # A stream that reads nothing after connecting, with a small receive
    # buffer, until ``Watchers.unstall()``: a stalled client.
    stalled: bool = False

    @property
    def path(self) -> str:
        query = {"channel": self.channel} | ({"shows": self.shows} if self.shows else {})
        return "/stream?" + urllib.parse.urlencode(query)


class Watchers:
    """Opens every ``Watch`` against ``base_url`` with the given cookie and reads them until closed."""

    def __init__(self, base_url: str, cookie: str, watches: Iterable[Watch], connect_at_once: int = 100) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.cookie = cookie
        self.watches = list(watches)
        self.connect_at_once = connect_at_once
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="watchers", daemon=True)
        self.tasks: list[asyncio.Task] = []
        self.unstalled = asyncio.Event()

    def unstall(self) -> None:
        """The stalled streams read again: what the server held for them, then what comes."""
        self.loop.call_soon_threadsafe(self.unstalled.set)

    def __enter__(self) -> "Watchers":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._open_all(), self.loop).result()
        return self

    def wait_connected(self, timeout: float) -> int:
        """How many connected, once all did or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(w.connected_at or w.error for w in self.watches):
            time.sleep(0.05)
        return self.connected()

    def connected(self) -> int:
        return sum(w.connected_at is not None for w in self.watches)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._close_all(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _open_all(self) -> None:
        gate = asyncio.Semaphore(self.connect_at_once)
        self.tasks = [self.loop.create_task(self._read(watch, gate)) for watch in self.watches]

    async def _close_all(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _read(self, watch: Watch, gate: asyncio.Semaphore) -> None:
        writer = None
        try:
            async with gate:
                # A stalled client's reader stops taking from the socket after
                # 2 kB, and the kernel holds little for it: the server soon
                # cannot write to it.
                limit = 2**10 if watch.stalled else 2**22
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if watch.stalled:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.setblocking(False)
                await self.loop.sock_connect(sock, (self.host, self.port))
                reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
                # HTTP/1.0: the body is the stream itself, not chunked.
                writer.write(
                    f"GET {watch.path} HTTP/1.0\r\nHost: {self.host}:{self.port}\r\n"
                    f"Cookie: {self.cookie}\r\nAccept: text/event-stream\r\n\r\n".encode()
                )
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                watch.status = int(head.split(b" ", 2)[1])
                if watch.status != 200:
                    watch.error = head.split(b"\r\n", 1)[0].decode()
                    return
                await reader.readuntil(b"\n\n")  # the comment sent at once
                watch.connected_at = time.monotonic()
            if watch.stalled:
                await self.unstalled.wait()
            buffer = b""
            while True:
                chunk = await reader.read(2**16)
                if not chunk:
                    break
                watch.bytes += len(chunk)
                buffer += chunk
                *events, buffer = buffer.split(b"\n\n")
                now = time.monotonic()
                for raw in events:
                    self._note(watch, raw, now)
            watch.ended_at = time.monotonic()
        except asyncio.CancelledError:
            pass
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            watch.error = repr(error)
        finally:
            if writer is not None:
                writer.close()

    @staticmethod
    def _note(watch: Watch, raw: bytes, now: float) -> None:
        text = raw.decode()
        kind = EVENT.match(text)
        if kind is None:
            return  # a comment: connected or keepalive
        if kind.group(1) == "refresh":
            watch.refreshes += 1
            watch.behind += text.endswith("data:behind")
        elif kind.group(1) == "update":
            watch.updates += 1
            watch.last_update = text
            version = VERSION.search(text)
            if version:
                number = int(version.group(1))
                if number >= max(watch.received, default=0):
                    watch.newest_update = text
                watch.received.setdefault(number, now)
