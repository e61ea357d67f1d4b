"""The suite in several pytest-xdist workers: each has its own PostgreSQL
database and Redis, also when TEST_DATABASE_URL / TEST_REDIS_URL are given."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from devtools.procfile import ROOT
from tests.parallel import check_redis_not_shared, database_of_worker

pytestmark = pytest.mark.slow


def databases(url: str) -> set[str]:
    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database")
        return {name for (name,) in cur.fetchall()}


def execute(url: str, *statements: str) -> None:
    with contextlib.closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)


def tables(url: str) -> set[str]:
    with contextlib.closing(psycopg2.connect(url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in cur.fetchall()}


def pytest_run(basetemp: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """A pytest run of its own, as a developer starts one, its files in ``basetemp``."""
    given = {name: value for name, value in os.environ.items() if not name.startswith(("TEST_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *args],
        cwd=ROOT,
        env={**given, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture
def given_database(services):
    """A database on the tests' PostgreSQL server, as a developer's TEST_DATABASE_URL names one."""
    url = services.database_url.rsplit("/", 1)[0] + "/parallel_probe"
    execute(url.rsplit("/", 1)[0] + "/postgres", "CREATE DATABASE parallel_probe")
    yield url
    made = {name for name in databases(url) if name.startswith("parallel_probe")}
    execute(url.rsplit("/", 1)[0] + "/postgres", *(f"DROP DATABASE {name} WITH (FORCE)" for name in made))


def test_a_worker_s_database_is_the_given_one_s_name_and_the_worker_s(given_database):
    url = database_of_worker(given_database, "gw3")
    assert url == given_database + "_gw3"
    assert database_of_worker(given_database, "gw3") == url, "made once, found the second time"
    assert "parallel_probe_gw3" in databases(url)


def test_workers_given_test_database_url_each_use_a_database_of_their_own(given_database, tmp_path):
    run = pytest_run(tmp_path, "-n", "2", "-q", "tests/test_names.py", TEST_DATABASE_URL=given_database)
    assert run.returncode == 0, run.stdout + run.stderr
    made = {name for name in databases(given_database) if name.startswith("parallel_probe_gw")}
    assert made <= {"parallel_probe_gw0", "parallel_probe_gw1"} and made, made
    assert all("campaigns" in tables(given_database + name.removeprefix("parallel_probe")) for name in made)
    assert tables(given_database) == set(), "the given database itself is left alone"


class Options:
    """What check_redis_not_shared reads of pytest's config: ``-n``."""

    def __init__(self, numprocesses: int | None) -> None:
        self.numprocesses = numprocesses

    def getoption(self, name: str, default: object = None) -> object:
        assert name == "numprocesses"
        return self.numprocesses


def test_workers_are_refused_one_redis_server_to_share(monkeypatch):
    monkeypatch.setenv("TEST_REDIS_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(pytest.UsageError, match="workers cannot share one"):
        check_redis_not_shared(Options(2))
    for alone in (None, 0, 1):  # without pytest-xdist, -n 0, -n 1
        check_redis_not_shared(Options(alone))
    monkeypatch.delenv("TEST_REDIS_URL")
    check_redis_not_shared(Options(2))


def test_the_suite_s_postgresql_is_out_of_reach_of_other_pytest_runs(services, tmp_path_factory):
    # Any pytest run as root whose tests use tmp_path (a developer's, another
    # project's) takes o+x off pytest's temporary root, /tmp/pytest-of-root,
    # and a PostgreSQL under it crashes at its next checkpoint: it runs as a
    # user of its own, who can then no longer reach its data.
    if os.environ.get("TEST_DATABASE_URL"):
        pytest.skip("the server in TEST_DATABASE_URL is not ours")
    temporary_root = next(p for p in tmp_path_factory.getbasetemp().parents if p.name.startswith("pytest-of-"))
    with contextlib.closing(psycopg2.connect(services.database_url)) as conn, conn.cursor() as cur:
        cur.execute("SHOW data_directory")
        (data_directory,) = cur.fetchone()
    assert not Path(data_directory).is_relative_to(temporary_root)


# Loaded into a pytest run by -p: once every fixture is torn down, is the
# live-updates reader of the suite's app still running?
READER_LEFT = """
import threading

def pytest_unconfigure(config):
    for thread in threading.enumerate():
        if thread.name == "live-broker":
            thread.join(10)
            print("reader left running" if thread.is_alive() else "reader stopped")
"""


def test_the_suite_s_app_stops_its_live_updates_reader_before_its_redis_stops(tmp_path):
    # Left running, it logged a traceback a second against the stopped Redis
    # while its worker waited for the others to finish: hundreds in CI's log.
    (tmp_path / "reader_left.py").write_text(READER_LEFT)
    run = pytest_run(
        tmp_path / "run",
        *("-p", "no:xdist", "-p", "reader_left", "-s", "-q"),
        "tests/test_live_stream.py::test_a_closed_stream_is_released_at_once",
        PYTHONPATH=str(tmp_path),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reader left running" not in run.stdout
    assert "Redis subscription lost" not in run.stdout + run.stderr
