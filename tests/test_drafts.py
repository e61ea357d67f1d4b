"""A draft can be edited (the New campaign form, filled in) and deleted; both
are in the history, and neither can touch a campaign that has started."""

import html
import re

from sqlalchemy import select

from app.audit import AuditEvent
from app.campaigns import drafts
from app.campaigns.models import Campaign, Recipient
from app.campaigns.parsing import ParsedRecipient
from app.extensions import db
from tests.factories import make_campaign, start_campaign
from tests.helpers import history, reread


def a_draft() -> Campaign:
    people = [
        ParsedRecipient(1, "Doe, Jane", "jane@example.com", "jane@example.com"),
        ParsedRecipient(2, 'Bob "B"', "bob@example.com", "bob@example.com"),
        ParsedRecipient(4, "", "cy@example.com", "cy@example.com"),
    ]
    campaign = drafts.create_campaign("Spring sale", "email", "Hello", people, created_by=None)
    db.session.commit()
    return campaign


def test_the_edit_form_starts_from_the_draft_as_it_would_be_pasted(client):
    campaign = a_draft()
    page = client.get(f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert 'value="Spring sale"' in page and "\nHello</textarea>" in page
    assert '"Doe, Jane", jane@example.com\n"Bob ""B""", bob@example.com\ncy@example.com</textarea>' in html.unescape(
        page
    )
    assert "Save changes" in page


def test_saving_an_edit_replaces_the_draft_and_says_what_changed(client):
    campaign = a_draft()
    paste = drafts.as_paste(campaign.id).replace("cy@example.com", "Dee, dee@example.com")
    saved = client.post(
        f"/campaigns/{campaign.id}/edit",
        data={"title": "Summer sale", "channel": "email", "message": "Hello", "recipients": paste},
    )
    assert saved.status_code == 302
    campaign = reread(campaign)
    assert (campaign.title, campaign.status, campaign.recipient_count) == ("Summer sale", "draft", 3)
    rows = db.session.execute(select(Recipient.name, Recipient.address).order_by(Recipient.line)).all()
    assert rows == [("Doe, Jane", "jane@example.com"), ('Bob "B"', "bob@example.com"), ("Dee", "dee@example.com")]
    assert history(campaign)[-1] == ("campaign.edited", "operator@example.com", "title, recipients (3 → 3)")
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Draft saved. It has 3 recipients." in page


def test_an_edit_sent_after_the_campaign_started_changes_nothing_and_keeps_what_was_typed(client):
    campaign = a_draft()
    start_campaign(campaign, enqueue=False)
    refused = client.post(
        f"/campaigns/{campaign.id}/edit",
        data={"title": "Too late", "channel": "email", "message": "Hi", "recipients": "late@example.com"},
    )
    page = refused.get_data(as_text=True)
    assert "This campaign is sending now, so it can no longer be edited. Nothing was changed." in page
    assert 'value="Too late"' in page and "late@example.com</textarea>" in page
    assert reread(campaign).title == "Spring sale"
    assert [a for a, _, _ in history(campaign)] == ["campaign.created", "campaign.started"]
    # Opening the form of a started campaign says why it is not offered.
    opened = client.get(f"/campaigns/{campaign.id}/edit")
    assert opened.status_code == 302
    said = client.get(opened.headers["Location"]).get_data(as_text=True)
    # As TRANSITIONS says: a scheduled campaign may be edited too.
    assert "This campaign is sending; only a draft or a scheduled campaign can be edited." in said


def test_a_draft_is_deleted_with_its_recipients_and_the_deletion_is_recorded(client):
    campaign_id = a_draft().id
    deleted = client.post(f"/campaigns/{campaign_id}/delete", headers={"HX-Request": "true"})
    assert deleted.headers["HX-Redirect"] == "/campaigns"
    assert db.session.get(Campaign, campaign_id) is None
    assert db.session.scalar(select(Recipient.id).limit(1)) is None
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.deleted")).one()
    assert event.detail == f"“Spring sale” (campaign {campaign_id}, 3 recipients)"
    assert event.actor.email == "operator@example.com"
    assert "Deleted the draft “Spring sale”." in client.get("/campaigns").get_data(as_text=True)
    gone = client.get(f"/campaigns/{campaign_id}")
    assert gone.status_code == 404 and "it may have been a draft that was deleted" in gone.get_data(as_text=True)


def test_a_started_campaign_cannot_be_deleted(client):
    campaign = start_campaign(make_campaign(2), enqueue=False)
    refused = client.post(f"/campaigns/{campaign.id}/delete")
    assert refused.status_code == 302
    assert "only a draft can be deleted" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert db.session.get(Campaign, campaign.id) is not None


def test_a_drafts_controls_offer_edit_and_delete_and_a_started_ones_do_not(client):
    campaign = a_draft()
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert ">Edit draft</a>" in page and ">Delete draft</button>" in page
    start_campaign(campaign, enqueue=False)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Edit draft" not in page and "Delete draft" not in page
    assert re.search(r">Pause</button>", page)


def test_recipient_ids_follow_the_paste_order_whatever_contacts_exist(client):
    """Pages and claims go by id: a paste's recipients get ids in line order,
    whether its lines are new contacts or known ones."""
    known = "\n".join(f"p{n}@example.com" for n in range(0, 200, 7))
    client.post("/campaigns/new", data={"title": "A", "channel": "email", "message": "Hi", "recipients": known})
    for title, count in (("B", 200), ("C", 12)):
        lines = "\n".join(f"P{n}, p{n}@example.com" for n in range(count))
        response = client.post(
            "/campaigns/new", data={"title": title, "channel": "email", "message": "Hi", "recipients": lines}
        )
        campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
        rows = db.session.scalars(
            select(Recipient.line).where(Recipient.campaign_id == campaign_id).order_by(Recipient.id)
        ).all()
        assert rows == list(range(1, count + 1))
    made = make_campaign(12)
    rows = db.session.scalars(select(Recipient.line).where(Recipient.campaign_id == made.id).order_by(Recipient.id))
    assert rows.all() == list(range(1, 13))
