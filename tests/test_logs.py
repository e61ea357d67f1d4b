"""Logs: LOG_FORMAT=json makes every process write one JSON object a line,
carrying what each line is about; no secret and no message is ever written."""

import io
import json
import logging
import re
import secrets
import urllib.request

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app import logs
from app.auth.models import Role
from app.campaigns.models import Campaign
from app.extensions import db
from app.request_ids import sanitized
from devtools import procfile
from devtools.client import Browser
from jobs import periodic
from tests.api import make_token
from tests.conftest import signed_in, worker_env
from tests.factories import PASSWORD, make_user
from tests.helpers import FakeClock, wait_for
from tests.processes import running

REQUIRED = {"time", "level", "logger", "message", "process"}


def logged(log_format: str, emit, process: str = "worker") -> str:
    """What ``emit(logger)`` writes through the handler ``logs.configure`` installs."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logs.handler(process, log_format, stream)
    logger.addHandler(handler)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    return stream.getvalue()


def test_a_json_line_says_when_what_where_and_about_what():
    def emit(logger):
        with logs.context(campaign_id=7, job_id="send-campaign-7-x"):
            logger.warning("campaign %s: live update skipped", 7)

    line = json.loads(logged("json", emit))
    assert set(line) >= REQUIRED
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert (line["level"], line["logger"], line["process"]) == ("WARNING", "tests.logs", "worker")
    assert line["message"] == "campaign 7: live update skipped"
    assert (line["campaign_id"], line["job_id"]) == (7, "send-campaign-7-x")
    assert "request_id" not in line


def test_ids_last_only_as_long_as_their_context():
    def emit(logger):
        with logs.context(task="expired-leases"):
            logger.info("inside")
        logger.info("after")

    inside, after = (json.loads(line) for line in logged("json", emit).splitlines())
    assert inside["task"] == "expired-leases"
    assert "task" not in after


def test_an_exception_is_one_line_with_its_traceback():
    def emit(logger):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("task failed")

    text = logged("json", emit)
    assert text.count("\n") == 1
    line = json.loads(text)
    assert "Traceback" in line["exc_info"] and "RuntimeError: boom" in line["exc_info"]


def test_what_looks_like_a_token_is_masked_in_either_format():
    secret = "cdt_" + secrets.token_urlsafe(32)
    for log_format in ("text", "json"):
        text = logged(log_format, lambda logger: logger.warning("sent %s and Bearer %s", secret, "abc.def"))
        assert secret not in text and "abc.def" not in text
        assert "cdt_[redacted]" in text and "Bearer [redacted]" in text


def test_the_text_format_stays_readable():
    text = logged("text", lambda logger: logger.info("scheduled-campaigns every 2 s"))
    assert re.fullmatch(r"\S+ \S+ tests\.logs INFO scheduled-campaigns every 2 s\n", text)


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logs.handler("web", "xml")


@pytest.mark.parametrize(
    "given", ["0f8fd5e2-6a8e-4b5e-9c3f-1b2a3c4d5e6f", "abc123", "Root=1-67891233-abcdef012345678912345678"]
)
def test_a_sane_request_id_is_kept(given):
    assert sanitized(given) == given


@pytest.mark.parametrize("given", [None, "", "x" * 101, "a b", "id\nFAKE LINE", "<script>", "ünïcode"])
def test_any_other_request_id_is_replaced_by_a_new_one(given):
    made = sanitized(given)
    assert made != given and re.fullmatch(r"[0-9a-f]{32}", made)


def test_a_response_returns_the_request_id_it_came_with_or_a_new_one(anonymous):
    assert anonymous.get("/sign-in", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = anonymous.get("/sign-in", headers={"X-Request-ID": "no spaces"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    # Even a request refused before its view: here, sent to Sign in.
    refused = anonymous.get("/campaigns")
    assert refused.status_code == 302 and re.fullmatch(r"[0-9a-f]{32}", refused.headers["X-Request-ID"])


def test_a_line_logged_while_answering_names_the_request_and_the_person(app):
    user = make_user(Role.OPERATOR)
    headers = {"Authorization": f"Bearer {make_token(user)}", "X-Request-ID": "req-1"}
    with app.test_request_context("/api/v1/campaigns", headers=headers):
        assert app.preprocess_request() is None
        during = json.loads(logged("json", lambda logger: logger.info("answering"), process="web"))
    after = json.loads(logged("json", lambda logger: logger.info("between requests"), process="web"))
    assert (during["request_id"], during["user_id"], during["process"]) == ("req-1", user.id, "web")
    assert "request_id" not in after and "user_id" not in after


def test_a_person_signed_in_by_session_is_named_too(app):
    user = make_user(Role.OPERATOR)
    browser = signed_in(app, user)
    browser.get("/campaigns")
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    with app.test_request_context("/campaigns", headers={"Cookie": f"{cookie.key}={cookie.value}"}):
        assert app.preprocess_request() is None
        during = json.loads(logged("json", lambda logger: logger.info("answering"), process="web"))
    assert during["user_id"] == user.id and re.fullmatch(r"[0-9a-f]{32}", during["request_id"])


def test_a_failing_periodic_task_is_logged_with_its_name(app):
    def broken() -> None:
        raise RuntimeError("boom")

    loop_log = logging.getLogger("tests.logs")
    task = periodic.Task("reconciler", "broken-task", broken, 1.0, exclusive=False)
    text = logged("json", lambda logger: periodic.Loop([task], clock=FakeClock(), log=loop_log).tick())
    line = json.loads(text)
    assert (line["level"], line["task"]) == ("ERROR", "broken-task")
    assert "RuntimeError: boom" in line["exc_info"]


def test_a_failed_statement_leaves_its_values_out_of_its_error(app):
    """Errors are logged with their text: a statement's values (a message, a
    password's hash) must not be in it."""
    with pytest.raises(DBAPIError) as raised:
        db.session.execute(text("SELECT 1 / :zero WHERE :kept IS NOT NULL"), {"zero": 0, "kept": "marker-7a1"})
    db.session.rollback()
    assert "division by zero" in str(raised.value) and "marker-7a1" not in str(raised.value)


def _lines(text: str, name: str) -> list[dict]:
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{name}, line {number} is not JSON: {line[:300]}")
        assert isinstance(parsed, dict), f"{name}, line {number}: {line[:300]}"
        assert set(parsed) >= REQUIRED, f"{name}, line {number} lacks {REQUIRED - set(parsed)}: {line[:300]}"
        lines.append(parsed)
    return lines


def _request(base_url: str, path: str, token: str | None = None, body: dict | None = None, request_id: str = ""):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if request_id:
        headers["X-Request-ID"] = request_id
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read()) if response.headers.get_content_type() == "application/json" else None
        return response.headers["X-Request-ID"], body


@pytest.mark.slow
def test_every_process_logs_json_lines_that_say_what_they_are_about_and_nothing_secret(app, services, tmp_path):
    """The Procfile's four processes with LOG_FORMAT=json: sign in, make an
    API token, send a campaign through the API, and read every line they wrote."""
    user = make_user(Role.OPERATOR)
    token = make_token(user)
    marker = "marker-" + secrets.token_hex(8)
    secret_key = "secret-key-" + secrets.token_hex(16)
    given_id = "logs-test-" + secrets.token_hex(8)
    searched = "searched-" + secrets.token_hex(8)
    env = worker_env(
        services,
        LOG_FORMAT="json",
        SECRET_KEY=secret_key,
        WEB_CONCURRENCY=1,
        PROVIDER_FAILURE_RATE=0.3,
        RECONCILE_SECONDS=0.5,
        SCHEDULER_INTERVAL_SECONDS=0.5,
    )
    with running(env, tmp_path) as processes, open(tmp_path / "web.log", "w") as web_log:
        processes.start("scheduler")
        web, base_url = procfile.start_web(env, web_log)
        try:
            browser = Browser(base_url, user.email, PASSWORD)
            session_cookies = [cookie.value for cookie in browser.cookies]
            assert session_cookies
            returned, created = _request(
                base_url,
                "/api/v1/campaigns",
                token,
                {"name": "Logs", "channel": "sms", "base_template": f"Hi {{first_name}}, {marker}"},
                request_id=given_id,
            )
            assert returned == given_id
            campaign_id = created["id"]
            recipients = {"text": "Ann, 0712 111111\nBen, 0712 222222\nCy, 0712 333333"}
            _request(base_url, f"/api/v1/campaigns/{campaign_id}/recipients", token, recipients)
            _request(base_url, f"/api/v1/campaigns/{campaign_id}/start", token, {})

            def completed() -> bool:
                db.session.expire_all()
                campaign = db.session.get(Campaign, campaign_id)
                done = campaign is not None and campaign.status == "completed"
                db.session.rollback()
                return done

            wait_for(completed, 60, "the campaign to complete", processes.output)
            made_id, _ = _request(base_url, f"/healthz?q={searched}")
        finally:
            procfile.stop(web)
        processes.stop_all()

    outputs = {path.name: path.read_text() for path in sorted(tmp_path.glob("*.log"))}
    assert {name.split("-")[0].removesuffix(".log") for name in outputs} == {
        "web",
        "worker",
        "reconciler",
        "scheduler",
    }
    lines = {name: _lines(text, name) for name, text in outputs.items()}
    assert all(lines.values()), f"a process wrote nothing: {[n for n, found in lines.items() if not found]}"

    web_lines = lines["web.log"]
    assert {line["process"] for line in web_lines} == {"web"}
    mine = [line for line in web_lines if line.get("request_id") == given_id]
    assert any(line.get("path") == "/api/v1/campaigns" and line.get("status") == 201 for line in mine), mine
    assert re.fullmatch(r"[0-9a-f]{32}", made_id)
    assert any(line.get("request_id") == made_id and line.get("path") == "/healthz" for line in web_lines)

    worker_lines = [line for name, found in lines.items() if name.startswith("worker") for line in found]
    about_the_send = [line for line in worker_lines if line.get("campaign_id") == campaign_id]
    assert about_the_send, "a send job logged nothing about its campaign"
    assert all(line.get("job_id", "").startswith(f"send-campaign-{campaign_id}-") for line in about_the_send)

    everything = "\n".join(outputs.values())
    for what, secret in {
        "the password": PASSWORD,
        "the API token": token,
        "SECRET_KEY": secret_key,
        "the message": marker,
        "a query string": searched,
        **{f"session cookie {n}": value for n, value in enumerate(session_cookies)},
    }.items():
        assert secret not in everything, f"{what} was logged"
