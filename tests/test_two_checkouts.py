"""More worker hosts on one PostgreSQL and one Redis (docs/scaling.md): two
worker pools, each run from a checkout of its own as on two machines, share
one campaign, and nothing is lost or sent twice."""

import re
import subprocess
from pathlib import Path

import psutil
import pytest
from rq import Worker

from app import jobqueue
from app.campaigns import lifecycle
from app.extensions import db
from devtools import procfile
from tests.conftest import worker_env
from tests.factories import make_campaign
from tests.helpers import assert_nothing_lost_or_sent_twice, reread, wait_for

# "campaign 7: completed, 61 finished by this job" or "campaign 7: 40 done, …" (jobs.send).
FINISHED = re.compile(r"campaign \d+: (?:completed, )?(\d+) (?:finished by this job|done)")


def checkout(where: Path) -> Path:
    """A clean clone of this repository at its HEAD: committed code only, no
    virtualenv, no node_modules or built assets, nothing ignored."""
    head = subprocess.run(
        ["git", "-C", str(procfile.ROOT), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(procfile.ROOT), str(where)], check=True)
    subprocess.run(["git", "-C", str(where), "checkout", "--quiet", "--detach", head], check=True)
    return where


@pytest.mark.slow
def test_two_worker_pools_from_two_checkouts_share_a_campaign(app, services, tmp_path, config, redis_client):
    hosts = [checkout(tmp_path / name) for name in ("host-a", "host-b")]
    assert not any((host / "node_modules").exists() or (host / "app/static/vendor").exists() for host in hosts)
    # This interpreter's packages, each checkout's own code: `python -m` puts
    # the working directory first on the path. Bytecode is written, so each
    # checkout shows which of its modules its pool imported.
    env = {
        name: value
        for name, value in worker_env(
            services, DISPATCH_CONCURRENCY=5, PROVIDER_LATENCY_MIN=0.1, PROVIDER_LATENCY_MAX=0.2
        ).items()
        if name not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH")
    }
    logs = [tmp_path / f"{host.name}.log" for host in hosts]
    pools: list[subprocess.Popen] = []

    def output() -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)

    def registered() -> int:
        pids = {child.pid for pool in pools for child in _children(pool)}
        return sum(worker.pid in pids for worker in Worker.all(connection=redis_client))

    try:
        for host, log in zip(hosts, logs, strict=True):
            with open(log, "w") as out:
                pools.append(
                    subprocess.Popen(
                        [*procfile.command("worker", env), "--processes", "1"],
                        cwd=host,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

        wait_for(lambda: registered() == 2, 60, "both pools' workers to register with RQ", output)
        # Four jobs, both pools idle: each takes one at once, and they claim from the one campaign side by side.
        config(DISPATCH_JOB_RECIPIENTS=50)
        campaign = make_campaign(200)
        assert lifecycle.start(campaign.id, None).changed
        db.session.commit()
        assert jobqueue.enqueue_send(campaign.id, 200) == 4
        wait_for(lambda: reread(campaign).status == "completed", 60, "the campaign to complete", output)
        wait_for(lambda: not jobqueue.waiting().depth, 30, "the queue to empty", output)
    finally:
        for pool in pools:
            procfile.stop(pool, timeout=15)
    texts = [log.read_text() for log in logs]
    for text in texts:
        assert "Successfully completed" in text, output()
    finished = [sum(int(n) for n in FINISHED.findall(text)) for text in texts]
    assert all(finished) and sum(finished) == 200, (finished, output())
    for host in hosts:
        # Its pool imported the engine from this checkout, not from the one the tests run in.
        assert list((host / "jobs" / "__pycache__").glob("send.*.pyc")), host
        assert list((host / "app" / "campaigns" / "__pycache__").glob("delivery.*.pyc")), host
    assert_nothing_lost_or_sent_twice(campaign, redis_client)


def _children(pool: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(pool.pid).children()
    except psutil.NoSuchProcess:
        return []
