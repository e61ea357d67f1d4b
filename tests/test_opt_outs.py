"""Opt-outs: the list and its pages, the provider's opted_out answer, and the
Skipped end state a campaign gives an opted-out address, at Start and at each
claim, with a real worker sending. Replies that opt out: test_inbound_webhook.py."""

import time

import pytest
from sqlalchemy import func, select

from app.audit import Action, AuditEvent
from app.auth.models import Role
from app.campaigns.models import Campaign, DeliveryAttempt, Recipient
from app.contacts.models import Contact
from app.extensions import db
from app.optouts import registry
from app.optouts.models import OptOut, Source
from jobs.provider import Ledger
from tests.conftest import signed_in, worker_env
from tests.factories import make_user
from tests.helpers import assert_counters_match_rows, assert_nothing_lost_or_sent_twice, reread, wait_for
from tests.processes import running


def sms_draft(client, numbers: list[str], message: str = "Hi {first_name}") -> Campaign:
    recipients = "\n".join(f"P{n}, {number}" for n, number in enumerate(numbers))
    response = client.post(
        "/campaigns/new", data={"title": "Texts", "channel": "sms", "message": message, "recipients": recipients}
    )
    return db.session.get(Campaign, int(response.headers["Location"].rsplit("/", 1)[1]))


def numbers(count: int) -> list[str]:
    return [f"+1202555{n:04d}" for n in range(count)]


def opt_out(channel: str, address: str) -> None:
    registry.add(channel, address, Source.STAFF)
    db.session.commit()


# The list and its pages.


def test_staff_opt_out_an_address_and_the_list_says_who_and_when(app, client):
    response = client.post(
        "/opt-outs", data={"channel": "sms", "address": "+1 (202) 555-0101", "note": "asked by phone"}
    )
    assert response.status_code == 302
    page = client.get("/opt-outs").get_data(as_text=True)
    assert "+12025550101" in page and "Added by staff: asked by phone" in page
    operator = db.session.scalar(select(OptOut)).created_by.email
    assert operator in page
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.OPT_OUT_ADDED.value))
    assert event.detail == "SMS +12025550101, added by staff: asked by phone" and event.actor.email == operator
    # Only SMS: WhatsApp is a list of its own.
    assert db.session.scalar(select(func.count()).select_from(OptOut)) == 1

    again = client.post("/opt-outs", data={"channel": "sms", "address": "+1 202 555 0101"}, follow_redirects=True)
    assert "+12025550101 (SMS) was already opted out." in again.get_data(as_text=True)


def test_a_bad_address_is_refused_with_the_form_kept(client):
    page = client.post("/opt-outs", data={"channel": "email", "address": "bob@", "note": "typed"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "&#34;bob@&#34; is not a valid email address." in html
    assert 'value="bob@"' in html and 'value="typed"' in html and 'aria-invalid="true"' in html
    phone_for_email = client.post("/opt-outs", data={"channel": "email", "address": "+12025550101"})
    assert "is a phone number, but this is an email campaign" in phone_for_email.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OptOut)) == 0


def test_the_list_searches_and_filters_by_channel(client):
    for channel, address in (("sms", "+12025550101"), ("whatsapp", "+12025550101"), ("email", "ada@example.com")):
        opt_out(channel, address)
    assert "3 opt-outs" in client.get("/opt-outs").get_data(as_text=True)
    found = client.get("/opt-outs?q=5550101").get_data(as_text=True)
    assert "2 opt-outs found" in found and found.count('data-testid="opt-out-row"') == 2
    only_email = client.get("/opt-outs?channel=email").get_data(as_text=True)
    assert "1 opt-out found" in only_email and "ada@example.com" in only_email
    none = client.get("/opt-outs?q=%25_%27").get_data(as_text=True)
    assert "No opt-out matches" in none and "Clear the search" in none
    assert client.get("/opt-outs?channel=fax&page=99999999999999999999").status_code == 200


def test_opting_back_in_is_recorded_and_viewers_only_read(app, client):
    opt_out("sms", "+12025550101")
    viewer = signed_in(app, make_user(Role.VIEWER))
    listed = viewer.get("/opt-outs").get_data(as_text=True)
    assert "+12025550101" in listed and "Opt back in" not in listed and "Opt out an address" not in listed
    assert viewer.post("/opt-outs", data={"channel": "sms", "address": "+12025550102"}).status_code == 403
    entry = db.session.scalar(select(OptOut))
    assert viewer.post(f"/opt-outs/{entry.id}/remove").status_code == 403

    assert client.post(f"/opt-outs/{entry.id}/remove").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(OptOut)) == 0
    page = client.get("/opt-outs").get_data(as_text=True)
    assert "Opted back in: SMS +12025550101" in page
    assert "already removed" in client.post(f"/opt-outs/{entry.id}/remove", follow_redirects=True).get_data(
        as_text=True
    )


def test_a_contact_shows_its_opt_outs_and_the_list_filters_by_them(client):
    ada = Contact(first_name="Ada", phone="+12025550101", email="ada@example.com")
    bob = Contact(first_name="Bob", phone="+12025550102")
    db.session.add_all([ada, bob])
    db.session.commit()
    assert client.post("/opt-outs", data={"channel": "whatsapp", "address": "+12025550101"}).status_code == 302
    page = client.get(f"/contacts/{ada.id}").get_data(as_text=True)
    assert "WhatsApp (<code>+12025550101</code>, added by staff" in page
    assert "Opted out" in page and "WhatsApp +12025550101, added by staff" in page  # its history
    assert "Of no channel" in client.get(f"/contacts/{bob.id}").get_data(as_text=True)
    opted = client.get("/contacts?opted_out=yes").get_data(as_text=True)
    assert "1 contact found" in opted and "Ada" in opted and "Bob" not in opted
    assert "Bob" in client.get("/contacts?opted_out=no").get_data(as_text=True)


def test_an_audience_of_contacts_leaves_out_those_opted_out_of_its_channel(client):
    db.session.add_all([Contact(first_name=f"C{n}", phone=f"+1202555{n:04d}", location="Nairobi") for n in range(4)])
    db.session.commit()
    opt_out("sms", "+12025550001")
    opt_out("whatsapp", "+12025550002")
    size = client.post("/campaigns/audience", data={"channel": "sms", "audience": "contacts"})
    text = " ".join(size.get_data(as_text=True).split())
    assert (
        "<strong>3 contacts</strong> with a phone match these filters, leaving out those who opted out of SMS." in text
    )


def test_the_page_and_the_providers_answer_put_an_opt_out_in_its_contacts_history(client, config, run_worker):
    """Whoever opts an address out names the contact with it (app.contacts
    finds them): staff on the opt-outs page, and the provider's answer. A
    reply does too (test_inbound_webhook.py)."""
    campaign = sms_draft(client, numbers(2))
    contacts = dict(db.session.execute(select(Contact.phone, Contact.id)).all())
    client.post("/opt-outs", data={"channel": "whatsapp", "address": "+12025550000"})
    config(PROVIDER_ERROR_RATES={"opted_out": 1.0}, AUTO_PAUSE_FAILURE_RATE=0)
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    events = db.session.execute(
        select(AuditEvent.contact_id, AuditEvent.via)
        .where(AuditEvent.action == Action.OPT_OUT_ADDED.value)
        .order_by(AuditEvent.id)
    ).all()
    assert tuple(events[0]) == (contacts["+12025550000"], "web")
    # The provider's answers, in whichever order they came back.
    assert sorted(tuple(event) for event in events[1:]) == sorted(
        (contacts[number], "dispatcher") for number in numbers(2)
    )


# Campaigns.


def test_start_asks_with_the_skipped_count_and_leaves_them_unpaid(client, config):
    config(SMS_PRICE=0.01)
    campaign = sms_draft(client, numbers(5), message="Hi")
    opt_out("sms", "+12025550001")
    opt_out("sms", "+12025550003")
    opt_out("whatsapp", "+12025550004")  # another channel: still sent
    dialog = " ".join(client.get(f"/campaigns/{campaign.id}/start").get_data(as_text=True).split())
    assert "Send to <strong>3 recipients</strong>: 3 SMS messages, 3 segments in all" in dialog
    assert "2 recipients will be skipped</strong>: they have opted out of SMS messages." in dialog

    client.post(f"/campaigns/{campaign.id}/start")
    started = reread(campaign)
    assert (started.skipped_count, str(started.estimated_cost)) == (2, "0.0300")
    skipped = db.session.scalars(
        select(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.status == "skipped")
    ).all()
    assert {r.address_normalized for r in skipped} == {"+12025550001", "+12025550003"}
    assert {r.last_error for r in skipped} == {"Not sent: this address opted out of SMS messages."}
    assert all(r.attempts == 0 for r in skipped)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.CAMPAIGN_STARTED.value))
    assert event.detail == "2 recipients skipped: opted out"
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "2 skipped (opted out)" in page and 'Skipped (<span id="count-skipped">2</span>)' in page
    tab = client.get(f"/campaigns/{campaign.id}?status=skipped").get_data(as_text=True)
    assert tab.count("badge-skipped") == 2 and "opted out of SMS messages" in tab
    assert_counters_match_rows(started)


def test_a_campaign_whose_every_recipient_opted_out_completes(client, run_worker):
    campaign = sms_draft(client, numbers(2))
    for number in numbers(2):
        opt_out("sms", number)
    started = client.post(f"/campaigns/{campaign.id}/start", follow_redirects=True).get_data(as_text=True)
    assert "Nothing to send: every recipient has opted out. The campaign is complete." in started
    done = reread(campaign)
    assert (done.status, done.skipped_count, done.sent_count) == ("completed", 2, 0)
    run_worker()  # nothing was queued for it
    assert reread(campaign).sent_count == 0


def test_an_opt_out_after_start_skips_the_recipient_when_claimed(app, client, run_worker, redis_client):
    campaign = sms_draft(client, numbers(6))
    client.post(f"/campaigns/{campaign.id}/start")
    opt_out("sms", "+12025550004")  # committed after Start, before any claim
    run_worker()
    done = reread(campaign)
    assert done.status == "completed" and done.skipped_count == 1
    skipped = db.session.scalar(
        select(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.status == "skipped")
    )
    assert skipped.address_normalized == "+12025550004" and skipped.attempts == 0
    assert_nothing_lost_or_sent_twice(done, redis_client)


def test_the_providers_opted_out_answer_opts_the_address_out(app, client, config, run_worker, redis_client):
    config(PROVIDER_ERROR_RATES={"opted_out": 1.0}, AUTO_PAUSE_FAILURE_RATE=0)
    campaign = sms_draft(client, numbers(2))
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    assert reread(campaign).failed_count == 2
    entries = db.session.scalars(select(OptOut).order_by(OptOut.address)).all()
    assert [(e.channel, e.address, e.source, e.campaign_id) for e in entries] == [
        ("sms", "+12025550000", "provider", campaign.id),
        ("sms", "+12025550001", "provider", campaign.id),
    ]
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == Action.OPT_OUT_ADDED.value)).all()
    assert len(events) == 2 and {e.via for e in events} == {"dispatcher"}

    # The next campaign to those numbers skips them, and asks the provider nothing.
    config(PROVIDER_ERROR_RATES={})
    second = sms_draft(client, numbers(3))
    client.post(f"/campaigns/{second.id}/start")
    run_worker()
    after = reread(second)
    assert (after.skipped_count, after.sent_count + after.failed_count) == (2, 1)
    assert_nothing_lost_or_sent_twice(after, redis_client)


@pytest.mark.slow
def test_an_opt_out_committed_mid_campaign_stops_every_later_send_to_it(app, services, client, redis_client, tmp_path):
    """A real worker sends; the address is opted out while it does. Every
    recipient with that address claimed after the commit is skipped, and the
    provider never hears of it."""
    target = "+12025550150"
    first = sms_draft(client, numbers(200))  # the target is line 151
    second = sms_draft(client, list(reversed(numbers(200))))  # and line 50
    env = worker_env(
        services, PROVIDER_LATENCY_MIN=0.02, PROVIDER_LATENCY_MAX=0.05, DISPATCH_CONCURRENCY=2, PROVIDER_FAILURE_RATE=0
    )
    with running(env, tmp_path) as processes:
        for campaign in (first, second):
            client.post(f"/campaigns/{campaign.id}/start")
        wait_for(lambda: reread(first).sent_count >= 20, 60, "sends under way", processes.output)
        registry.add("sms", target, Source.STAFF)
        not_yet = db.session.scalar(
            select(func.count())
            .select_from(Recipient)
            .where(Recipient.address_normalized == target, Recipient.attempts == 0)
        )
        db.session.commit()
        committed_at = time.time()
        assert not_yet == 2, "the worker had not reached the target in either campaign yet"
        wait_for(
            lambda: reread(first).status == "completed" and reread(second).status == "completed",
            120,
            "both campaigns to finish",
            processes.output,
        )
    targets = db.session.scalars(select(Recipient).where(Recipient.address_normalized == target)).all()
    assert [r.status for r in targets] == ["skipped", "skipped"] and all(r.attempts == 0 for r in targets)
    attempts = db.session.scalar(
        select(func.count())
        .select_from(DeliveryAttempt)
        .where(DeliveryAttempt.recipient_id.in_([r.id for r in targets]))
    )
    assert attempts == 0
    ledger = Ledger(redis_client).entries()
    for campaign in (first, second):
        done = assert_nothing_lost_or_sent_twice(reread(campaign), redis_client)
        assert reread(campaign).sent_count == 199 and done is not None
    assert not any(r.idempotency_key in ledger for r in targets)
    assert time.time() > committed_at
