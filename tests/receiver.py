"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 in a thread,
answering each POST with the next of the answers it was given, and keeping
every request it got."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    # Set: the answer waits for this event first (a receiver that hangs until released).
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, answers: list[Answer]) -> None:
        # The last answer is repeated once the others are used.
        self.answers = answers or [Answer()]
        self.received: list[Received] = []
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _next(self, request: Received) -> Answer:
        with self._lock:
            answer = self.answers[min(len(self.received), len(self.answers) - 1)]
            self.received.append(request)
        self.arrived.set()
        return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver._next(Received(self.path, dict(self.headers.items()), body))
                if answer.hold is not None:
                    answer.hold.wait(60)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                try:
                    self.wfile.write(answer.body)
                except OSError:
                    return  # the sender read what it wanted and left

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler


@contextmanager
def receiving(*answers: Answer) -> Iterator[Receiver]:
    receiver = Receiver(list(answers))
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
