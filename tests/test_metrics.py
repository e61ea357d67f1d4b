"""/metrics: who may read it, and that what it counts over every process
(gunicorn's workers, the worker pool's processes and their work horses)
matches the database after a campaign."""

import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import text

from app import create_app
from app.auth.models import Role
from app.campaigns.models import CampaignStatus
from app.extensions import db
from app.optouts import registry as opt_outs
from app.optouts.models import Source
from devtools import procfile
from devtools.client import Browser, StreamListener
from tests.conftest import settings_for, worker_env
from tests.factories import PASSWORD, make_campaign, make_user
from tests.helpers import reread, wait_for
from tests.processes import running

REMOTE = {"REMOTE_ADDR": "203.0.113.9"}
LOOPBACK = {"REMOTE_ADDR": "127.0.0.1"}


def samples(exposition: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(exposition) for sample in family.samples]


def total(found: list[Sample], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(s.value for s in found if s.name == name and labels.items() <= s.labels.items())


def by(found: list[Sample], name: str, label: str) -> dict[str, float]:
    """``name``'s samples added up by one label, leaving out the zeros."""
    sums: Counter[str] = Counter()
    for s in found:
        if s.name == name and s.value:
            sums[s.labels[label]] += s.value
    return dict(sums)


# -- who may read it ------------------------------------------------------------


def test_metrics_answer_this_machine_without_a_token_and_set_no_cookie(anonymous):
    response = anonymous.get("/metrics", environ_base=LOOPBACK)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    assert "Set-Cookie" not in response.headers
    assert "dispatcher_campaigns{" in response.text


def test_metrics_are_not_found_from_elsewhere_when_no_token_is_set(anonymous, config):
    config(METRICS_TOKEN="")
    response = anonymous.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer "})
    assert response.status_code == 404
    assert "dispatcher_" not in response.text
    assert anonymous.get("/metrics", environ_base=LOOPBACK).status_code == 200


def test_metrics_from_elsewhere_need_the_token(anonymous, config):
    config(METRICS_TOKEN="scrape-me")
    refused = anonymous.get("/metrics", environ_base=REMOTE)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    wrong = anonymous.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer scrape-you"})
    assert wrong.status_code == 401 and "dispatcher_" not in wrong.text
    allowed = anonymous.get("/metrics", environ_base=REMOTE, headers={"Authorization": "Bearer scrape-me"})
    assert allowed.status_code == 200 and "dispatcher_campaigns{" in allowed.text


def test_a_request_through_an_untrusted_proxy_on_this_machine_is_not_loopback(anonymous, config):
    config(TRUSTED_PROXIES=0)
    response = anonymous.get("/metrics", environ_base=LOOPBACK, headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.status_code == 404
    assert anonymous.get("/metrics", environ_base=LOOPBACK).status_code == 200


def test_behind_trusted_proxies_the_client_address_decides(services):
    app = create_app({**settings_for(services), "TRUSTED_PROXIES": 1})
    try:
        client = app.test_client()
        proxied = client.get("/metrics", environ_base=LOOPBACK, headers={"X-Forwarded-For": "198.51.100.7"})
        assert proxied.status_code == 404
        local = client.get("/metrics", environ_base=LOOPBACK, headers={"X-Forwarded-For": "127.0.0.1"})
        assert local.status_code == 200
    finally:
        app.extensions["live-broker"].stop()


def test_requests_are_timed_by_endpoint_never_by_path(app, client):
    def count() -> float:
        found = samples(client.get("/metrics", environ_base=LOOPBACK).text)
        return total(
            found,
            "dispatcher_http_request_duration_seconds_count",
            endpoint="campaigns.show",
            method="GET",
            status="200",
        )

    campaign = make_campaign(2)
    before = count()
    for _ in range(3):
        assert client.get(f"/campaigns/{campaign.id}").status_code == 200
    assert count() == before + 3
    exposition = client.get("/metrics", environ_base=LOOPBACK).text
    assert f"/campaigns/{campaign.id}" not in exposition
    assert 'endpoint="metrics"' not in exposition


# -- what it counts, over every process ----------------------------------------------


@pytest.mark.slow
def test_metrics_over_every_process_match_the_database_after_a_campaign(app, services, tmp_path):
    make_user(Role.OPERATOR)
    campaign = make_campaign(200)
    make_campaign(3, title="Still a draft")
    # Skipped at Start, by the web process.
    opt_outs.add("email", "person7@example.com", Source.STAFF)
    db.session.commit()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = worker_env(
        services,
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        WEB_CONCURRENCY=2,
        # Retried (at once) and failed, by kind; outcomes are read back from the database.
        PROVIDER_ERROR_RATES="timeout=0.2,invalid_address=0.1",
        RETRY_MAX_ATTEMPTS=2,
        AUTO_PAUSE_FAILURE_RATE=0,
        # Four jobs, so both worker processes run several work horses.
        DISPATCH_JOB_RECIPIENTS=50,
        DISPATCH_CONCURRENCY=5,
        # A stream whose client left ends at its next keepalive.
        SSE_KEEPALIVE_SECONDS=0.5,
    )

    with running(env, tmp_path, worker=False) as processes, open(tmp_path / "web.log", "w") as web_log:
        processes.start("worker", "--processes", "2")
        web, base_url = procfile.start_web(env, web_log)
        try:

            def scrape() -> list[Sample]:
                with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
                    return samples(response.read().decode())

            staff = Browser(base_url, "operator@example.com", PASSWORD)
            with StreamListener(staff, campaign.id) as stream:
                assert stream.connected.is_set()
                assert total(scrape(), "dispatcher_sse_streams_open") == 1
                staff.start(campaign.id)
                wait_for(
                    lambda: reread(campaign).status == CampaignStatus.COMPLETED,
                    90,
                    "the campaign to complete",
                    processes.output,
                )
            wait_for(lambda: total(scrape(), "dispatcher_sse_streams_open") == 0, 30, "the stream's end to be counted")
            for _ in range(3):
                staff.get(f"/campaigns/{campaign.id}")
            found = scrape()
        finally:
            procfile.stop(web)

    db.session.commit()
    recipients = dict(
        db.session.execute(
            text("SELECT status, count(*) FROM recipients WHERE campaign_id = :id GROUP BY status"),
            {"id": campaign.id},
        ).all()
    )
    attempts = db.session.execute(
        text("SELECT count(*) FROM delivery_attempts WHERE campaign_id = :id"), {"id": campaign.id}
    ).scalar_one()
    codes = dict(
        db.session.execute(
            text("SELECT coalesce(error_code, ''), count(*) FROM delivery_attempts WHERE campaign_id = :id GROUP BY 1"),
            {"id": campaign.id},
        ).all()
    )
    transient_attempts = db.session.execute(
        text("SELECT count(*) FROM delivery_attempts WHERE campaign_id = :id AND outcome = 'transient'"),
        {"id": campaign.id},
    ).scalar_one()
    failed_after_retries = db.session.execute(
        text(
            "SELECT count(*) FROM recipients WHERE campaign_id = :id AND status = 'failed' AND error_kind = 'transient'"
        ),
        {"id": campaign.id},
    ).scalar_one()
    campaigns = dict(db.session.execute(text("SELECT status, count(*) FROM campaigns GROUP BY status")).all())
    db.session.commit()

    messages = by(found, "dispatcher_messages_total", "outcome")
    assert {"sent", "failed", "retrying", "skipped"} <= messages.keys(), messages
    assert messages == {
        "sent": recipients["sent"],
        "failed": recipients["failed"],
        "skipped": recipients["skipped"],
        # Each transient failure that was not the last attempt left its recipient retrying.
        "retrying": transient_attempts - failed_after_retries,
    }
    assert recipients["skipped"] == 1
    assert sum(messages.values()) == attempts + recipients["skipped"]
    assert by(found, "dispatcher_messages_total", "error_code") == {**codes, "opted_out": 1}
    assert total(found, "dispatcher_messages_total", channel="email") == attempts + 1
    assert total(found, "dispatcher_provider_latency_seconds_count", channel="email") == attempts
    assert total(found, "dispatcher_send_loop_turn_seconds_count") > 0

    assert by(found, "dispatcher_campaigns", "status") == campaigns
    assert total(found, "dispatcher_queue_depth", queue=env["RQ_QUEUE"]) == 0
    assert total(found, "dispatcher_queue_oldest_job_age_seconds", queue=env["RQ_QUEUE"]) == 0

    duration = "dispatcher_http_request_duration_seconds_count"
    assert total(found, duration, endpoint="campaigns.show", method="GET", status="200") == 3
    assert total(found, duration, endpoint="campaigns.start", method="POST", status="200") == 1
    assert total(found, duration, endpoint="auth.sign_in", method="GET", status="200") == 1
    assert total(found, duration, endpoint="live.events") == 0

    # Work horses write to their worker's files: at most one set per worker process, however many jobs ran.
    horses = {path.name for path in metrics_dir.glob("counter_*-horse.db")}
    assert 1 <= len(horses) <= 2, sorted(path.name for path in metrics_dir.iterdir())
