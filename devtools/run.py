"""``make run``: everything on one machine, from nothing.

Starts embedded PostgreSQL and Redis under ``var/`` unless ``DATABASE_URL`` /
``REDIS_URL`` are set (in the environment or by you in ``.env``), saves the
addresses it chose, and a generated ``SECRET_KEY`` unless you set one, in
``.env`` so ``.venv/bin/flask …`` in another terminal reaches the same
servers, empties the processes' metrics directory (``var/metrics`` unless
``PROMETHEUS_MULTIPROC_DIR`` is set), migrates, loads the first admin and the demo campaign, then runs the
Procfile with honcho and prints the URL. Ctrl-C stops everything it started.
"""

import os
import secrets
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

from dotenv import dotenv_values

from app import logs
from devtools import embedded

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / ".env"
BEGIN, END = "# >>> written by make run: embedded servers", "# <<< written by make run"


def main() -> int:
    # SystemExit unwinds through `finally`, which stops the servers we started.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: sys.exit(0))
    user_env = {**_users_dotenv(), **os.environ}
    # Its own lines (the embedded servers starting) as the Procfile's processes write theirs.
    logs.configure("run", user_env.get("LOG_FORMAT", ""))
    servers: list[embedded.Server] = []
    settings: dict[str, str] = {}
    honcho: subprocess.Popen | None = None
    try:
        if not user_env.get("DATABASE_URL"):
            postgres = embedded.start_postgres(ROOT / "var" / "pg", 5432, database="dispatcher")
            servers.append(postgres)
            settings["DATABASE_URL"] = postgres.url
        if not user_env.get("REDIS_URL"):
            redis_server = embedded.start_redis(ROOT / "var" / "redis", 6379)
            servers.append(redis_server)
            settings["REDIS_URL"] = redis_server.url
        if not user_env.get("SECRET_KEY"):
            # Made here once and kept, so signing in survives a restart; never a shared default.
            settings["SECRET_KEY"] = _managed_values().get("SECRET_KEY") or secrets.token_urlsafe(32)
        if not user_env.get("RECEIPTS_WEBHOOK_SECRET"):
            # The simulated provider signs its delivery receipts with it, as a real one would.
            settings["RECEIPTS_WEBHOOK_SECRET"] = _managed_values().get(
                "RECEIPTS_WEBHOOK_SECRET"
            ) or secrets.token_urlsafe(32)
        _write_managed_block(settings)

        env = {
            **user_env,
            **settings,
            "FLASK_APP": "wsgi",
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        env.setdefault("FLASK_DEBUG", "0")
        # Served over plain http on 127.0.0.1: production's session cookie is
        # HTTPS-only, and a browser need not send it back here.
        env.setdefault("APP_ENV", "development")
        # Every process counts into files there, and /metrics adds them up; what
        # an earlier run counted is not this run's.
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(ROOT / "var" / "metrics"))
        empty_metrics_dir(Path(env["PROMETHEUS_MULTIPROC_DIR"]))
        flask = [sys.executable, "-m", "flask"]
        subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True)
        subprocess.run([*flask, "demo", "load"], env=env, cwd=ROOT, check=True)

        port = int(env.get("PORT") or embedded.pick_port(8000))
        env.update(PORT=str(port), BIND="127.0.0.1")
        # The simulated provider reports what became of each message here.
        env.setdefault("PROVIDER_RECEIPTS_URL", f"http://127.0.0.1:{port}/webhooks/provider/status")
        print(f"\n  Campaign Dispatcher is starting at http://127.0.0.1:{port}/  (Ctrl-C stops it)\n", flush=True)
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", "Procfile", "-p", str(port)], env=env, cwd=ROOT
        )
        return _wait(honcho)
    except KeyboardInterrupt:
        return 0
    finally:
        # Web and worker go first, so they never see their database vanish.
        if honcho is not None and honcho.poll() is None:
            honcho.terminate()
            _wait(honcho)
        for server in reversed(servers):
            server.stop()


def empty_metrics_dir(path: Path) -> None:
    """The multiprocess directory, made if need be, without the values files of an earlier run."""
    path.mkdir(parents=True, exist_ok=True)
    for values_file in path.glob("*.db"):
        values_file.unlink()


def _wait(process: subprocess.Popen) -> int:
    """Wait for honcho; a Ctrl-C (which the terminal sent honcho too) is a normal stop."""
    interrupted = False
    while True:
        try:
            code = process.wait()
            return 0 if interrupted else code
        except KeyboardInterrupt:
            interrupted = True


def _users_dotenv() -> dict[str, str]:
    """``.env`` without the block we write, so our saved ports never count as the user's choice."""
    return _parse(_env_file_lines()[0])


def _managed_values() -> dict[str, str]:
    """What the block we wrote last time holds."""
    return _parse(_env_file_lines()[1])


def _parse(lines: list[str]) -> dict[str, str]:
    values = dotenv_values(stream=StringIO("\n".join(lines)))
    return {key: value for key, value in values.items() if value is not None}


def _env_file_lines() -> tuple[list[str], list[str]]:
    """``.env``'s lines split into the user's own and those inside our block."""
    users, ours, inside = [], [], False
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line in (BEGIN, END):
                inside = line == BEGIN
            else:
                (ours if inside else users).append(line)
    return users, ours


def _write_managed_block(settings: dict[str, str]) -> None:
    block = [BEGIN, *(f"{key}={value}" for key, value in settings.items()), END] if settings else []
    ENV_FILE.write_text("\n".join([*_env_file_lines()[0], *block]) + "\n")


if __name__ == "__main__":
    sys.exit(main())
