"""POST /webhooks/inbound: replies that opt their sender out or back in, taken
only when signed, once each, small and not too many from one address."""

import hashlib
import hmac
import io
import json
import time

import pytest
from redis import Redis
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.audit import Action, AuditEvent
from app.contacts.models import Contact
from app.extensions import db
from app.optouts.models import OptOut
from tests.conftest import settings_for

SECRET = "inbound-test-secret"
STOP = json.dumps({"channel": "sms", "from": "+12025550101", "text": "STOP"}).encode()


def signed(body: bytes, secret: str = SECRET, at: float | str | None = None) -> dict[str, str]:
    timestamp = at if isinstance(at, str) else str(int(at if at is not None else time.time()))
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Signature-Timestamp": timestamp, "X-Signature": f"sha256={digest}", "Content-Type": "application/json"}


@pytest.fixture
def inbound(anonymous, config):
    config(INBOUND_WEBHOOK_SECRET=SECRET)

    def post(payload, headers=None, raw: bytes | None = None, **options):
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = headers if headers is not None else signed(body)
        if "input_stream" not in options:
            options["data"] = body
        return anonymous.post("/webhooks/inbound", headers=headers, **options)

    return post


def opted_out() -> int:
    return db.session.scalar(select(func.count()).select_from(OptOut))


@pytest.mark.parametrize("word", ["STOP", " stop ", "Unsubscribe", "cancel", "END", "quit"])
def test_a_stop_reply_opts_the_sender_out(inbound, word):
    response = inbound({"channel": "sms", "from": "+1 (202) 555-0101", "text": word})
    assert response.status_code == 200 and response.json == {
        "action": "opted_out",
        "channel": "sms",
        "address": "+12025550101",
    }
    entry = db.session.scalar(select(OptOut))
    assert (entry.channel, entry.address, entry.source) == ("sms", "+12025550101", "reply")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.OPT_OUT_ADDED.value))
    assert event.via == "inbound" and event.actor_label == "their reply"


def test_a_reply_puts_its_opt_out_in_the_history_of_the_contact_with_that_address(inbound):
    ada = Contact(first_name="Ada", phone="+12025550101")
    db.session.add(ada)
    db.session.commit()
    inbound({"channel": "sms", "from": "+12025550101", "text": "STOP"})
    inbound({"channel": "sms", "from": "+12025550101", "text": "START"})
    found = select(AuditEvent.contact_id, AuditEvent.action).where(AuditEvent.action.like("opt_out.%"))
    events = db.session.execute(found.order_by(AuditEvent.id)).all()
    assert [tuple(event) for event in events] == [(ada.id, "opt_out.added"), (ada.id, "opt_out.removed")]


def test_start_opts_back_in_and_other_words_change_nothing(inbound):
    inbound({"channel": "whatsapp", "from": "+12025550101", "text": "STOP"})
    assert inbound({"channel": "whatsapp", "from": "+12025550101", "text": "Stop please"}).json["action"] == "none"
    assert opted_out() == 1
    assert inbound({"channel": "whatsapp", "from": "+12025550101", "text": "start"}).json["action"] == "opted_in"
    assert opted_out() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Signature-Timestamp": "now", "X-Signature": "sha256=00"},
        "wrong secret",
        "an hour old",
        "signed over another body",
    ],
)
def test_unsigned_or_badly_signed_requests_get_401_and_change_nothing(inbound, headers):
    if headers == "wrong secret":
        headers = signed(STOP, secret="guess")
    elif headers == "an hour old":
        headers = signed(STOP, at=time.time() - 3600)
    elif headers == "signed over another body":
        headers = signed(STOP.replace(b"0101", b"0102"))
    response = inbound(None, headers=headers, raw=STOP)
    assert response.status_code == 401 and "signature" in response.json["error"]
    assert opted_out() == 0


def test_without_a_secret_set_every_request_is_told_webhooks_are_not_configured(anonymous, config):
    config(INBOUND_WEBHOOK_SECRET="")
    for headers in (signed(STOP, secret=""), signed(STOP), {}):
        response = anonymous.post("/webhooks/inbound", data=STOP, headers=headers)
        assert response.status_code == 503
        assert response.json["error"] == "Inbound webhooks are not configured: set INBOUND_WEBHOOK_SECRET."
    assert opted_out() == 0


@pytest.mark.parametrize(("env", "secret", "warned"), [("production", "", True), ("production", SECRET, False),
                                                       ("development", "", False)])  # fmt: skip
def test_production_without_a_secret_warns_at_start(app, services, caplog, env, secret, warned):
    create_app({**settings_for(services), "TESTING": False, "APP_ENV": env, "INBOUND_WEBHOOK_SECRET": secret})
    said = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert [line for line in said if "INBOUND_WEBHOOK_SECRET" in line] == (
        [
            "Inbound webhooks are not configured: set INBOUND_WEBHOOK_SECRET. "
            "Until it is, POST /webhooks/inbound answers 503 and no reply opts anyone out."
        ]
        if warned
        else []
    )


# The last: now in full-width digits, which float() and \d take.
@pytest.mark.parametrize("form", ["nan", "NaN", "{now}.5", "+{now}", "{now}e0", " {now}", "{wide}"])
def test_a_timestamp_that_is_not_whole_seconds_in_digits_gets_401_and_changes_nothing(inbound, form):
    # Signed correctly over that timestamp: only its form is wrong. "nan"
    # was once inside every window, as no comparison with it is true.
    now = str(int(time.time()))
    timestamp = form.format(now=now, wide=now.translate({ord("0") + n: 0xFF10 + n for n in range(10)}))
    response = inbound(None, headers=signed(STOP, at=timestamp), raw=STOP)
    assert response.status_code == 401
    assert "X-Signature-Timestamp must be the Unix time of signing, in whole seconds" in response.json["error"]
    assert opted_out() == 0


@pytest.mark.parametrize("given", ["sha256=" + "é" * 64, "sha256=ünïcödé", "é"])
def test_a_signature_with_other_than_ascii_in_it_gets_401(inbound, given):
    headers = {**signed(STOP), "X-Signature": given}
    response = inbound(None, headers=headers, raw=STOP)
    assert response.status_code == 401 and "signature" in response.json["error"]
    assert opted_out() == 0


def test_a_captured_start_sent_again_cannot_undo_a_later_stop(inbound):
    now = time.time()
    start = json.dumps({"channel": "sms", "from": "+12025550101", "text": "START"}).encode()
    captured = signed(start, at=now - 20)
    assert inbound(None, headers=signed(STOP, at=now - 30), raw=STOP).json["action"] == "opted_out"
    assert inbound(None, headers=captured, raw=start).json["action"] == "opted_in"
    assert inbound(None, headers=signed(STOP, at=now - 10), raw=STOP).json["action"] == "opted_out"

    replayed = inbound(None, headers=captured, raw=start)
    assert replayed.status_code == 409
    assert replayed.json["error"].startswith("Replay: this signature was already accepted, and nothing changed.")
    assert opted_out() == 1


def test_a_reply_that_failed_to_be_saved_is_taken_when_sent_again(app, inbound):
    """A provider retries a request that failed; that is not a replay, or a STOP
    lost to a database fault would stay lost."""
    headers = signed(STOP)
    # A real fault in PostgreSQL: every insert of an opt-out fails.
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse_opt_outs() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$;"
                "CREATE TRIGGER refuse_opt_outs BEFORE INSERT ON opt_outs "
                "FOR EACH ROW EXECUTE FUNCTION refuse_opt_outs()"
            )
        )
    try:
        with pytest.raises(DBAPIError, match="refused for the test"):
            inbound(None, headers=headers, raw=STOP)
    finally:
        db.session.rollback()
        with db.engine.begin() as conn:
            conn.execute(text("DROP FUNCTION refuse_opt_outs() CASCADE"))
    assert opted_out() == 0
    again = inbound(None, headers=headers, raw=STOP)
    assert again.status_code == 200 and again.json["action"] == "opted_out"


def padded(size: int) -> bytes:
    """A signed-STOP body of exactly ``size`` bytes."""
    empty = json.dumps({"channel": "sms", "from": "+12025550101", "text": "STOP", "pad": ""}).encode()
    return empty.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(empty)) + b'"')


def test_a_body_over_64_kb_gets_413_unread_and_changes_nothing(inbound):
    limit = 64 * 1024
    assert inbound(None, raw=padded(limit)).status_code == 200
    db.session.execute(text("TRUNCATE opt_outs"))
    db.session.commit()

    big = padded(limit + 1)
    stream = io.BytesIO(big)
    response = inbound(None, headers=signed(big), input_stream=stream, content_length=len(big))
    assert response.status_code == 413
    assert response.json["error"] == "The body is over the limit of 64 kB."
    assert stream.tell() == 0, "a body its Content-Length says is too large is not read"
    assert opted_out() == 0


def test_a_chunked_body_is_read_no_further_than_the_limit(inbound):
    # No Content-Length: the server (gunicorn) marks where the chunked body ends.
    big = padded(1024 * 1024)
    stream = io.BytesIO(big)
    response = inbound(
        None,
        headers={**signed(big), "Transfer-Encoding": "chunked"},
        input_stream=stream,
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.json["error"] == "The body is over the limit of 64 kB."
    assert stream.tell() <= 64 * 1024 + 1
    assert opted_out() == 0


def test_too_many_requests_from_one_address_get_429_and_change_nothing(inbound, config):
    config(INBOUND_WEBHOOK_RATE_LIMIT="3 per minute")
    flooder, provider = {"REMOTE_ADDR": "192.0.2.66"}, {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(3):  # signed or not, each counts
        assert inbound(None, headers={}, raw=STOP, environ_base=flooder).status_code == 401
    refused = inbound(None, raw=STOP, environ_base=flooder)
    assert refused.status_code == 429
    wait = refused.headers["Retry-After"]
    assert refused.json["error"] == f"Over the limit of 3 per minute from this address. Try again in {wait} s."
    assert opted_out() == 0
    assert inbound(None, raw=STOP, environ_base=provider).json["action"] == "opted_out"


def test_without_redis_to_check_for_replays_a_reply_gets_503_and_changes_nothing(app, inbound, monkeypatch):
    # Nothing listens on port 1: every call to the app's Redis fails at once.
    # (Only this app's client: another create_app would also re-point the
    # process-wide rate limiter, and every later test with it.)
    with monkeypatch.context() as cut_off:
        cut_off.setitem(app.extensions, "redis", Redis.from_url("redis://127.0.0.1:1/0"))
        response = inbound(None, raw=STOP)
    assert response.status_code == 503
    assert response.json["error"].startswith("Replays cannot be checked right now")
    assert opted_out() == 0
