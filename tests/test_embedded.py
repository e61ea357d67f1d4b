"""The embedded PostgreSQL and Redis: real servers, data kept across restarts, nothing left running."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis

from devtools import embedded

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def server_processes(under: Path) -> list[psutil.Process]:
    """What ``ps`` would show of our servers: live postgres/redis processes working under ``under``."""
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if (
                proc.info["name"] in ("postgres", "redis-server")
                and proc.status() != psutil.STATUS_ZOMBIE
                and Path(proc.cwd()).is_relative_to(under.resolve())
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def query(url: str, statement: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = embedded.start_postgres(tmp_path_factory.mktemp("shared-pg"), fast=True)
    yield server
    server.stop()


def test_postgres_url_names_the_postgres_role_on_loopback(postgres):
    assert postgres.url == f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    assert query(postgres.url, "SELECT current_user, inet_server_addr()::text") == [("postgres", "127.0.0.1/32")]


def test_fast_postgres_runs_without_fsync_and_allows_200_connections(postgres):
    settings = query(
        postgres.url,
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections')",
    )
    assert dict(settings) == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }


def test_create_database_is_idempotent(postgres):
    url = embedded.create_database(postgres, "dispatcher_test")
    assert embedded.create_database(postgres, "dispatcher_test") == url
    assert url == f"postgresql://postgres@127.0.0.1:{postgres.port}/dispatcher_test"
    assert query(url, "SELECT current_database()") == [("dispatcher_test",)]


def test_postgres_restart_reuses_the_data_and_the_port(tmp_path):
    server = embedded.start_postgres(tmp_path / "pg", fast=True, database="dispatcher")
    query(server.url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    server.stop()
    assert not server.is_running()
    assert server_processes(tmp_path) == []
    server.stop()

    again = embedded.start_postgres(tmp_path / "pg", fast=True, database="dispatcher")
    try:
        assert again.url == server.url
        assert query(again.url, "SELECT x FROM kept") == [(42,)]
    finally:
        again.stop()
    assert server_processes(tmp_path) == []


def test_postgres_starts_after_a_crash_left_a_stale_pid_file(tmp_path):
    server = embedded.start_postgres(tmp_path / "pg")
    query(server.url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
    pid_file = server.pgdata / "postmaster.pid"
    psutil.Process(int(pid_file.read_text().split()[0])).kill()
    # After a reboot the pid in the stale file may belong to any process, e.g. this one.
    lines = pid_file.read_text().splitlines()
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")

    again = embedded.start_postgres(tmp_path / "pg")
    try:
        assert query(again.url, "SELECT x FROM kept") == [(7,)]
    finally:
        again.stop()
    assert server_processes(tmp_path) == []


def test_postgres_left_running_on_the_data_dir_is_restarted(tmp_path):
    first = embedded.start_postgres(tmp_path / "pg", fast=True)
    query(first.url, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
    second = embedded.start_postgres(tmp_path / "pg", fast=True)
    try:
        assert not first.is_running()
        first.stop()  # superseded: must leave the new server alone
        assert second.is_running()
        assert query(second.url, "SELECT x FROM kept") == [(1,)]
    finally:
        second.stop()
    assert server_processes(tmp_path) == []


def test_redis_restart_reuses_the_data_and_the_port(tmp_path):
    server = embedded.start_redis(tmp_path / "redis", fast=True)
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    redis.Redis.from_url(server.url).set("kept", "yes")
    server.stop()
    assert not server.is_running()
    assert server_processes(tmp_path) == []
    server.stop()

    again = embedded.start_redis(tmp_path / "redis", fast=True)
    try:
        assert again.url == server.url
        assert redis.Redis.from_url(again.url).get("kept") == b"yes"
    finally:
        again.stop()
    assert server_processes(tmp_path) == []


def test_redis_left_running_on_the_data_dir_is_restarted_with_its_data(tmp_path):
    first = embedded.start_redis(tmp_path / "redis")
    redis.Redis.from_url(first.url).set("kept", "yes")
    second = embedded.start_redis(tmp_path / "redis")
    try:
        assert not first.is_running()
        assert redis.Redis.from_url(second.url).get("kept") == b"yes"
    finally:
        second.stop()
        first.stop()
    assert server_processes(tmp_path) == []


def test_a_taken_port_is_replaced_by_a_free_one(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = embedded.start_redis(tmp_path / "redis", taken.getsockname()[1])
        try:
            assert server.port != taken.getsockname()[1]
            assert redis.Redis.from_url(server.url).ping()
        finally:
            server.stop()


def test_cli_up_prints_urls_and_stops_both_servers_on_sigterm(tmp_path):
    # Port 0: any free port, so the test never takes 5432/6379 from a developer's `up`.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devtools.embedded",
            "up",
            "--dir",
            str(tmp_path / "var"),
            "--fast",
            "--pg-port",
            "0",
            "--redis-port",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        urls = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))
        assert query(urls["DATABASE_URL"], "SELECT current_database()") == [("dispatcher",)]
        assert redis.Redis.from_url(urls["REDIS_URL"]).ping()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert server_processes(tmp_path) == []


ADD_USER_WHEN_TOLD = """
import sys, time
from pathlib import Path
from devtools import embedded
go = Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
print(embedded._system_user(sys.argv[1]).pw_uid)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="only root adds the server's user")
def test_processes_starting_servers_at_once_add_the_server_user_once(tmp_path):
    # As pytest-xdist's workers each start PostgreSQL on a machine that never ran it.
    name = f"dispatcher_test_{os.getpid()}"
    go = tmp_path / "go"
    adders = [
        subprocess.Popen(
            [sys.executable, "-c", ADD_USER_WHEN_TOLD, name, str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for adder in adders:  # imports done: the useradds can overlap
            assert adder.stdout.readline() == "ready\n"
        go.touch()
        answers = [adder.communicate(timeout=60) for adder in adders]
        assert [adder.returncode for adder in adders] == [0] * 4, [err for _, err in answers]
        assert len({out for out, _ in answers}) == 1, "all got the same user"
    finally:
        subprocess.run(["userdel", name], capture_output=True)
