"""Liveness and readiness. ``/healthz`` answers while the process does,
touching neither server; ``/readyz`` (and the API's health, in the seeds'
shape) asks that PostgreSQL and Redis answer, that a worker and each periodic
process reported in time, and that the migrations are at head, and names
each part missing. With the Procfile's real processes, stopped one at a time;
and the heartbeats' protocol (``app.heartbeats``) as the loop writes it."""

import flask_migrate
import pytest
from alembic.script import ScriptDirectory

from app import create_app, heartbeats
from jobs import periodic
from jobs.periodic import Loop, Task
from tests.conftest import settings_for, worker_env
from tests.helpers import FakeClock, wait_for
from tests.processes import running

# Small, so that a stopped worker is missed soon; its workers then beat every 2 s.
STALE = 6


def readiness(client) -> dict[str, str]:
    """What /readyz says is missing; {} when it is ready."""
    response = client.get("/readyz")
    body = response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    if response.status_code == 200:
        assert body == {"status": "ready"}
        return {}
    assert response.status_code == 503 and body["status"] == "not ready", body
    assert body["missing"], body
    return body["missing"]


def test_readiness_asks_for_each_process_of_the_periodic_table(app):
    assert set(heartbeats.PERIODIC_PROCESSES) == {task.process for task in periodic.table(app.config)}


@pytest.mark.parametrize("dead", ["database", "redis"])
def test_liveness_touches_neither_server_and_readiness_names_the_one_that_does_not_answer(
    app, services, closed_port, dead
):
    # ``app`` migrates the test database: run first in its worker, this test found none, and "migrations" behind.
    nowhere = {
        "database": {"SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg2://dispatcher@127.0.0.1:{closed_port}/dispatcher"},
        "redis": {"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"},
    }[dead]
    other = create_app({**settings_for(services), **nowhere})
    try:
        client = other.test_client()
        alive = client.get("/healthz")
        assert (alive.status_code, alive.get_data(as_text=True)) == (200, "ok\n")
        missing = readiness(client)
        if dead == "database":
            assert missing["database"] == "PostgreSQL does not answer"
            assert missing["migrations"] == "not known: PostgreSQL does not answer"
            assert "redis" not in missing
        else:
            assert missing["redis"] == "Redis does not answer"
            assert missing["workers"] == missing["scheduler"] == "not known: Redis does not answer"
            assert "database" not in missing and "migrations" not in missing
    finally:
        other.extensions["live-broker"].stop()


def test_readiness_names_migrations_behind_the_code(app, anonymous):
    scripts = ScriptDirectory(app.extensions["migrate"].directory)
    head = scripts.get_current_head()
    previous = scripts.get_revision(head).down_revision
    assert "migrations" not in readiness(anonymous)
    flask_migrate.stamp(revision=previous)
    try:
        assert readiness(anonymous)["migrations"] == f"database at {previous}, code at {head}"
        health = anonymous.get("/api/v1/health").get_json()
        assert health["checks"]["migrations"] == {
            "status": "unhealthy",
            "detail": f"database at {previous}, code at {head}",
        }
    finally:
        flask_migrate.stamp(revision="head")
    assert "migrations" not in readiness(anonymous)


def test_a_loop_turn_records_each_pass_and_keeps_its_process_alive(app, redis_client):
    def broken() -> None:
        raise ValueError("went wrong")

    loop = Loop(
        [
            Task("reconciler", "fine", lambda: None, 2.0, exclusive=False),
            Task("reconciler", "broken", broken, 2.0, exclusive=False),
        ],
        clock=FakeClock(),
    )
    assert heartbeats.periodic_processes_alive(redis_client) == set()
    loop.tick()
    passes = heartbeats.periodic_passes(redis_client)
    assert {name: (p.process, p.ok, p.seconds) for name, p in passes.items()} == {
        "fine": ("reconciler", True, 0.0),
        "broken": ("reconciler", False, 0.0),
    }
    assert passes["fine"].at == pytest.approx(float(redis_client.get(heartbeats.process_key("reconciler"))), abs=60)
    assert heartbeats.periodic_processes_alive(redis_client) == {"reconciler"}
    # 3× its smallest interval, and at least 10 s.
    assert 0 < redis_client.pttl(heartbeats.process_key("reconciler")) <= 10_000
    assert heartbeats.process_ttl([0.5, 3600]) == 10 and heartbeats.process_ttl([5, 3600]) == 15


def test_a_loop_backing_off_through_an_outage_still_wakes_to_renew_its_heartbeat(app):
    def outage() -> None:
        raise ConnectionError("PostgreSQL went away")

    clock = FakeClock()
    loop = Loop([Task("scheduler", "failing", outage, 2.0, exclusive=False)], clock=clock)
    loop.tick()
    while loop.due["failing"].failures < 4:
        clock.advance(loop.wait())
        loop.tick()
    assert loop.due["failing"].at - clock.now == periodic.RETRY_CAP_SECONDS
    # Its heartbeat lasts 10 s (3 × 2 s, at least 10): renewed well before.
    assert loop.wait() == pytest.approx(heartbeats.process_ttl([2.0]) / 3)


@pytest.fixture
def ready_stack(app, anonymous, config, services, tmp_path, redis_client):
    """A worker, the reconciler and the scheduler, as the Procfile runs them,
    once /readyz says ready and each periodic process has finished a task: a
    loop beats before its first task, so one killed in between has run none."""
    config(WORKER_STALE_SECONDS=STALE)
    env = worker_env(services, WORKER_STALE_SECONDS=STALE, PYTHONUNBUFFERED=1)

    def reported() -> bool:
        ran = {each.process for each in heartbeats.periodic_passes(redis_client).values()}
        return readiness(anonymous) == {} and set(heartbeats.PERIODIC_PROCESSES) <= ran

    with running(env, tmp_path) as processes:
        processes.start("scheduler")
        wait_for(reported, 60, "the processes to report", processes.output)
        yield processes


@pytest.mark.slow
def test_ready_and_healthy_in_the_seeds_shape_while_every_process_runs(app, ready_stack, anonymous, redis_client):
    response = anonymous.get("/api/v1/health")
    assert response.status_code == 200
    checks = ("database", "queue", "workers", "periodic", "migrations")
    assert response.get_json() == {"status": "healthy", "checks": {name: {"status": "healthy"} for name in checks}}
    # An idle worker beats again within a third of the stale time, not RQ's 405 s.
    (worker,) = heartbeats.workers_alive(redis_client, app.config["RQ_QUEUE"], STALE)
    first = worker.last_heartbeat

    def beat_again() -> bool:
        worker.refresh()
        return worker.last_heartbeat > first

    wait_for(beat_again, 30, "the idle worker to beat again", ready_stack.output)
    assert readiness(anonymous) == {}


@pytest.mark.slow
def test_a_killed_worker_is_named_once_stale_and_ready_again_with_another(ready_stack, anonymous):
    ready_stack.kill("worker")
    wait_for(lambda: "workers" in readiness(anonymous), 30, "the worker to be missed", ready_stack.output)
    assert readiness(anonymous) == {"workers": f"no worker has reported in the last {STALE} s"}
    health = anonymous.get("/api/v1/health")
    assert health.status_code == 503
    assert health.get_json()["checks"]["workers"] == {
        "status": "unhealthy",
        "detail": f"no worker has reported in the last {STALE} s",
    }
    ready_stack.start("worker", "--processes", "1")
    wait_for(lambda: readiness(anonymous) == {}, 60, "the new worker to report", ready_stack.output)


@pytest.mark.slow
def test_a_killed_scheduler_is_named_and_the_reconciler_is_not(ready_stack, anonymous):
    ready_stack.kill("scheduler")
    wait_for(lambda: "scheduler" in readiness(anonymous), 30, "the scheduler to be missed", ready_stack.output)
    missing = readiness(anonymous)
    assert list(missing) == ["scheduler"], missing
    assert missing["scheduler"].startswith("no scheduler has reported in time (its last task ran ")
    periodic_check = anonymous.get("/api/v1/health").get_json()["checks"]["periodic"]
    assert periodic_check == {"status": "unhealthy", "detail": missing["scheduler"]}
