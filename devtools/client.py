"""A signed-in HTTP session against the real web process, and a reader of a
campaign's live stream, as a browser has them: for the benchmark and tests."""

import contextlib
import http.cookiejar
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

BADGE = re.compile(r'id="recipient-(\d+)-status" class="status" hx-swap-oob="true"><span class="badge badge-(\w+)"')
TERMINAL = {"sent", "failed", "skipped", "cancelled"}


class Browser:
    """A signed-in HTTP session against the real web server, as a browser has."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        page = self.get("/sign-in")
        self.post("/sign-in", {"email": email, "password": password, "csrf_token": _csrf_token(page)})
        self.csrf_token = _csrf_token(self.get("/campaigns"))

    def get(self, path: str) -> str:
        with self.opener.open(self.base_url + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, form: dict | None = None, headers: dict | None = None) -> str:
        request = urllib.request.Request(
            self.base_url + path, data=urllib.parse.urlencode(form or {}).encode(), headers=headers or {}
        )
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()

    def start(self, campaign_id: int) -> None:
        self.control(campaign_id, "start")

    def cancel(self, campaign_id: int) -> None:
        self.control(campaign_id, "cancel")

    def control(self, campaign_id: int, name: str) -> None:
        """Press a campaign's control (start, pause, resume, cancel) as its page does, with htmx."""
        self.post(f"/campaigns/{campaign_id}/{name}", headers={"X-CSRFToken": self.csrf_token, "HX-Request": "true"})

    def cookie_header(self) -> str:
        """The Cookie header this session sends, for a client of its own (devtools.watchers)."""
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)


def _csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page).group(1)


@dataclass
class StreamListener:
    """Reads the campaign's live stream as the browser's EventSource does, on a
    thread, and notes when each recipient's final badge first arrived, and
    the bytes of the stream's body so far. ``shows`` ("101-200") names the
    recipients a page shows, as the page's own stream does; None, all of them."""

    browser: Browser
    campaign_id: int
    shows: str | None = None
    terminal_at: dict[int, float] = field(default_factory=dict)
    message_times: list[float] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    bytes: int = 0

    def __enter__(self) -> "StreamListener":
        shows = f"&shows={self.shows}" if self.shows else ""
        self.response = self.browser.opener.open(
            f"{self.browser.base_url}/stream?channel=campaign-{self.campaign_id}{shows}", timeout=60
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.connected.wait(10)
        return self

    def _read(self) -> None:
        data: list[str] = []
        try:
            for raw in self.response:
                self.bytes += len(raw)
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    self.connected.set()
                elif line.startswith("data:"):
                    data.append(line[5:].removeprefix(" "))
                elif not line and data:
                    received = time.time()
                    self.message_times.append(received)
                    for rid, status in BADGE.findall("\n".join(data)):
                        if status in TERMINAL:
                            self.terminal_at.setdefault(int(rid), received)
                    data = []
        except (OSError, ValueError, AttributeError):
            pass  # __exit__ closed the response under a blocked read; http.client may say so with any of these

    def __exit__(self, *exc) -> None:
        # Closing the response waits for the reading thread's blocked read,
        # which ends only with the next event or keepalive (up to 15 s):
        # shutting the socket down ends it at once.
        with (
            contextlib.suppress(OSError),
            socket.fromfd(self.response.fileno(), socket.AF_INET, socket.SOCK_STREAM) as connection,
        ):
            connection.shutdown(socket.SHUT_RDWR)
        self.response.close()
