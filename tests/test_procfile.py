"""The Procfile's web process as tests and the benchmark start it: on a port
it binds itself, never mistaken for another server (pytest-xdist's workers
start web processes side by side)."""

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devtools import procfile
from tests.conftest import worker_env

pytestmark = pytest.mark.slow


class AnswersEverything(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def another_server():
    """Another HTTP server on loopback, answering every path as /healthz does."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), AnswersEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_web_process_listens_on_a_port_it_bound_itself(services, tmp_path):
    with open(tmp_path / "web.log", "w") as log:
        web, base_url = procfile.start_web(worker_env(services, WEB_CONCURRENCY=1), log)
    try:
        assert base_url == f"http://127.0.0.1:{procfile.listening_port(web)}"
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=10) as answer:
            assert answer.read() == b"ok\n"
    finally:
        procfile.stop(web, quick=True)


def test_a_web_process_is_not_mistaken_for_the_server_already_on_its_port(services, another_server, tmp_path):
    # gunicorn cannot bind the port, and gives up after a few seconds' retries;
    # meanwhile the other server answers /healthz, as another worker's web would.
    with open(tmp_path / "web.log", "w") as log, pytest.raises(RuntimeError, match="did not start"):
        web, _ = procfile.start_web(worker_env(services, WEB_CONCURRENCY=1), log, port=another_server)
        procfile.stop(web, quick=True)
    assert "Connection in use" in (tmp_path / "web.log").read_text()
