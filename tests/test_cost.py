"""What a campaign costs: the Start confirmation's numbers, counted when asked,
and a channel's monthly budget, which refuses a Start past it and changes nothing."""

from decimal import Decimal

from sqlalchemy import select, text

from app.audit import Action
from app.campaigns.cost import money
from app.campaigns.models import Campaign
from app.extensions import db
from tests.helpers import queued_jobs, reread


def sms_draft(client, message: str, lines: int) -> Campaign:
    recipients = "\n".join(f"P{n}, +1202555{n:04d}" for n in range(lines))
    response = client.post(
        "/campaigns/new", data={"title": "Texts", "channel": "sms", "message": message, "recipients": recipients}
    )
    return db.session.get(Campaign, int(response.headers["Location"].rsplit("/", 1)[1]))


def test_start_asks_first_with_what_it_will_send_and_cost(client, config):
    config(SMS_PRICE=0.01, PRICE_CURRENCY="EUR")
    campaign = sms_draft(client, "x" * 160 + " {first_name}", 3)  # 163 characters: 2 segments each
    dialog = client.get(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert dialog.lstrip().startswith("<dialog") and "<html" not in dialog
    summary = " ".join(dialog.split())
    assert (
        "Send to <strong>3 recipients</strong>: 3 SMS messages, 6 segments in all, about <strong>0.060 EUR</strong>."
        in summary
    )
    assert f'hx-post="/campaigns/{campaign.id}/start"' in dialog and "Send to 3 recipients</button>" in dialog
    # Without JavaScript, the same question is a page of its own.
    page = client.get(f"/campaigns/{campaign.id}/start").get_data(as_text=True)
    assert "<html" in page and "6 segments in all" in page and f'action="/campaigns/{campaign.id}/start"' in page
    assert reread(campaign).status == "draft"


def test_start_keeps_the_estimate_and_a_started_campaign_is_not_asked_again(client, config):
    config(SMS_PRICE=0.01)
    campaign = sms_draft(client, "Hi", 4)
    assert client.post(f"/campaigns/{campaign.id}/start").status_code == 302
    assert reread(campaign).estimated_cost == Decimal("0.0400")
    again = client.get(f"/campaigns/{campaign.id}/start")
    assert again.status_code == 302 and again.headers["Location"] == f"/campaigns/{campaign.id}"


def test_a_start_past_the_monthly_budget_is_refused_and_changes_nothing(app, client, config, redis_client):
    config(SMS_PRICE=0.01, SMS_MONTHLY_BUDGET=0.05)
    first, second = sms_draft(client, "Hi", 4), sms_draft(client, "Hello", 2)
    client.post(f"/campaigns/{first.id}/start")
    assert reread(first).status == "sending"
    jobs = queued_jobs(app, redis_client)

    refused = client.post(f"/campaigns/{second.id}/start", follow_redirects=True).get_data(as_text=True)
    assert (
        "Not started: this campaign needs about 0.020 USD, and 0.010 USD of this month&#39;s SMS budget "
        "of 0.050 USD is left. Nothing was changed." in refused
    )
    second = reread(second)
    assert (second.status, second.started_at, second.estimated_cost) == ("draft", None, None)
    assert queued_jobs(app, redis_client) == jobs
    started = db.session.scalars(
        select(text("action")).select_from(text("audit_events")).where(text("campaign_id = :id")), {"id": second.id}
    ).all()
    assert Action.CAMPAIGN_STARTED.value not in started

    # What was started last month no longer counts against this month's budget.
    db.session.execute(
        text("UPDATE campaigns SET started_at = now() - interval '40 days' WHERE id = :id"), {"id": first.id}
    )
    db.session.commit()
    client.post(f"/campaigns/{second.id}/start")
    assert reread(second).status == "sending"


def test_no_budget_by_default_and_other_channels_have_their_own(client, config):
    config(SMS_MONTHLY_BUDGET=0.0001, EMAIL_PRICE=1.0)
    response = client.post(
        "/campaigns/new", data={"title": "Mail", "channel": "email", "message": "Hi", "recipients": "a@example.com"}
    )
    campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/campaigns/{campaign_id}/start")
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.status == "sending" and campaign.estimated_cost == Decimal("1.0000")


def test_money_reads_as_people_write_it():
    assert money(Decimal("1234.5"), "USD") == "1,234.50 USD"
    assert money(Decimal("0.0316"), "USD") == "0.032 USD"
    assert money(Decimal("0.0020"), "USD") == "0.0020 USD"
    assert money(Decimal("0"), "KES") == "0.00 KES"
