"""The Procfile's processes, started by tests and the benchmark exactly as
``make run`` (honcho) and a host start them, so all run the same commands."""

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import psutil

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
# ${NAME:-default} or ${NAME} or $NAME, as a shell (and honcho) expands them.
VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def command(name: str, env: Mapping[str, str]) -> list[str]:
    """The Procfile's ``name`` line, its variables expanded from ``env``, run
    with this interpreter and its virtualenv's executables."""
    for line in PROCFILE.read_text().splitlines():
        process, _, text = line.partition(":")
        if process.strip() == name:
            break
    else:
        raise KeyError(f"the Procfile has no {name!r} process")
    expanded = VARIABLE.sub(lambda m: env.get(m[1] or m[3]) or (m[2] or ""), text)
    argv = shlex.split(expanded)
    if argv[0] == "python":
        argv[0] = sys.executable
    elif (local := Path(sys.executable).parent / argv[0]).exists():
        argv[0] = str(local)
    return argv


def start(name: str, env: Mapping[str, str], output: IO | int = subprocess.DEVNULL, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        command(name, env), cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT, **popen
    )


def start_web(
    env: Mapping[str, str], output: IO | int = subprocess.DEVNULL, port: int = 0
) -> tuple[subprocess.Popen, str]:
    """The ``web`` process on 127.0.0.1, and its base URL, once ``/healthz`` answers.

    Port 0: gunicorn binds a free port itself. A port picked free and handed
    over could be taken before gunicorn binds it (tests start web processes
    side by side, one per pytest-xdist worker), and the /healthz that answered
    would be another stack's. So the port is read from the socket this
    process listens on, and a given port must be this process's too.
    """
    web = start("web", {**env, "PORT": str(port), "BIND": "127.0.0.1"}, output)
    deadline = time.monotonic() + 30
    while True:
        bound = listening_port(web)
        if bound is not None and port in (0, bound):
            url = f"http://127.0.0.1:{bound}"
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/healthz", timeout=2)
                return web, url
        if time.monotonic() > deadline or web.poll() is not None:
            stop(web)
            raise RuntimeError(f"the web process did not start on {port or 'a port of its own'}")
        time.sleep(0.2)


def listening_port(process: subprocess.Popen) -> int | None:
    """The TCP port ``process`` itself listens on, None while it does not."""
    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
        for connection in psutil.Process(process.pid).net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN:
                return connection.laddr.port
    return None


def stop(process: subprocess.Popen, timeout: float = 20, quick: bool = False) -> None:
    """SIGTERM, then, if it has not stopped within ``timeout`` seconds, SIGKILL
    for it and every process under it (``kill_tree``).

    ``quick``: SIGINT, which gunicorn takes as a quick shutdown, not waiting
    out its graceful timeout for the event streams still open.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGINT if quick else signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(process)


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL the process and every process under it. Killing a worker pool
    alone would leave its workers running, taking the next jobs from the
    queue; RQ puts each work horse in a session of its own, out of reach of a
    group kill, so the tree is read before anything dies."""
    try:
        tree = psutil.Process(process.pid)
        everyone = [tree, *tree.children(recursive=True)]
    except psutil.NoSuchProcess:
        everyone = []
    for each in everyone:
        with contextlib.suppress(psutil.NoSuchProcess):
            each.kill()
    process.wait()


def environment(**settings: object) -> dict[str, str]:
    """This process's environment with ``settings`` on top, as strings."""
    return {**os.environ, **{name: str(value) for name, value in settings.items()}}
