"""Segments: the contacts list's filters saved under a name, each with its
live count, renamed and deleted with a history; a campaign sent to one goes
to the contacts it chooses then, and keeps what it was sent to."""

from sqlalchemy import select

from app.audit import AuditEvent
from app.campaigns.models import Campaign, Recipient
from app.contacts.models import Contact
from app.extensions import db
from app.segments.models import Segment


def people() -> None:
    db.session.add_all(
        [
            Contact(first_name="Ada", phone="+12025550143", location="Nairobi", attributes={"plan": "gold"}),
            Contact(first_name="Bo", phone="+12025550144", location="Nairobi", attributes={"plan": "silver"}),
            Contact(first_name="Cy", phone="+12025550145", location="Mombasa", attributes={"plan": "gold"}),
            Contact(first_name="Di", email="di@example.com", location="Nairobi", attributes={"plan": "gold"}),
        ]
    )
    db.session.commit()


def test_the_contacts_list_s_filters_are_saved_as_a_segment_with_its_live_count(client):
    people()
    listed = client.get("/contacts?location=Nairobi&attribute=Plan%3Dgold").get_data(as_text=True)
    link = '<a href="/segments/new?location=Nairobi&amp;attribute=plan%3Dgold">Save these filters as a segment</a>'
    assert link in listed
    form = client.get("/segments/new?location=Nairobi&attribute=plan%3Dgold").get_data(as_text=True)
    assert "Contacts in Nairobi, with plan = gold." in form
    assert '<input type="hidden" name="attribute" value="plan=gold">' in form
    saved = client.post(
        "/segments/new", data={"name": " Gold in Nairobi ", "location": "Nairobi", "attribute": "plan=gold"}
    )
    assert saved.status_code == 302
    segment = db.session.scalar(select(Segment))
    assert (segment.name, segment.filters) == ("Gold in Nairobi", {"location": "Nairobi", "attribute": ["plan=gold"]})
    page = client.get("/segments").get_data(as_text=True)
    assert "Gold in Nairobi" in page and "in Nairobi, with plan = gold" in page
    assert f'hx-get="/segments/{segment.id}/size" hx-trigger="load"' in page
    assert "2 contacts" in client.get(f"/segments/{segment.id}/size").get_data(as_text=True)
    db.session.add(Contact(first_name="Ed", phone="+12025550146", location="Nairobi", attributes={"plan": "gold"}))
    db.session.commit()
    assert "3 contacts" in client.get(f"/segments/{segment.id}/size").get_data(as_text=True)
    # The name links to the contacts list with the segment's filters.
    assert 'href="/contacts?location=Nairobi&amp;attribute=plan%3Dgold"' in page
    events = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "segment.saved")).all()
    assert events == ["“Gold in Nairobi”: in Nairobi, with plan = gold"]


def test_a_segment_is_renamed_refused_a_taken_name_and_deleted_after_a_confirmation(client):
    for name in ("Gold", "Tea"):
        client.post("/segments/new", data={"name": name, "preferred_product": name})
    gold, tea = db.session.scalars(select(Segment).order_by(Segment.id)).all()
    taken = client.post(f"/segments/{tea.id}/edit", data={"name": "Gold"}).get_data(as_text=True)
    assert "There is already a segment named “Gold”." in taken and 'value="Gold"' in taken
    assert client.post(f"/segments/{tea.id}/edit", data={"name": "Tea lovers"}).status_code == 302
    page = client.get("/segments").get_data(as_text=True)
    assert f'<dialog id="delete-segment-{gold.id}"' in page and "Delete the segment “Gold”?" in page
    client.post(f"/segments/{gold.id}/delete")
    assert db.session.scalars(select(Segment.name)).all() == ["Tea lovers"]
    history = client.get("/segments").get_data(as_text=True)
    assert "Renamed the segment “Tea” → “Tea lovers”" in history and "Deleted the segment “Gold”" in history


def test_a_campaign_is_sent_to_a_segment_and_keeps_what_it_was_sent_to(client):
    people()
    client.post("/segments/new", data={"name": "Gold", "attribute": "plan=gold"})
    segment = db.session.scalar(select(Segment))
    form = client.get(f"/campaigns/new?audience_segment={segment.id}").get_data(as_text=True)
    assert '<option selected value="1">Gold</option>' in form
    assert '<input checked id="audience-2" name="audience" type="radio" value="segment">' in form
    size = client.post(
        "/campaigns/audience", data={"channel": "sms", "audience": "segment", "audience_segment": segment.id}
    ).get_data(as_text=True)
    assert "<strong>2 contacts</strong> with a phone match" in size  # Di has no phone
    created = client.post(
        "/campaigns/new",
        data={"title": "Gold news", "channel": "sms", "message": "Hi {first_name}", "audience": "segment",
              "audience_segment": segment.id, "recipients": ""},
    )  # fmt: skip
    assert created.status_code == 302, created.get_data(as_text=True)
    campaign = db.session.scalar(select(Campaign))
    texts = db.session.scalars(select(Recipient.rendered_content).order_by(Recipient.line)).all()
    assert texts == ["Hi Ada", "Hi Cy"]
    assert campaign.audience == {
        "filters": {"attribute": ["plan=gold"]},
        "said": "with plan = gold",
        "segment_id": segment.id,
        "segment": "Gold",
    }
    client.post(f"/segments/{segment.id}/edit", data={"name": "Gold members"})
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "the segment “Gold” (contacts with plan = gold), as they were when it was created" in page
    history = db.session.scalar(select(AuditEvent.detail).where(AuditEvent.action == "campaign.created"))
    assert history == "2 recipients, sent to the segment “Gold” (contacts with plan = gold)"


def test_no_segment_or_one_whose_filter_is_gone_is_refused_saying_why(client):
    people()
    refused = client.post(
        "/campaigns/new",
        data={"title": "T", "channel": "sms", "message": "Hi", "audience": "segment", "recipients": ""},
    ).get_data(as_text=True)
    assert "Choose a segment, or send to contacts chosen by filters." in refused
    db.session.add(Segment(name="From an import", filters={"import": 77}))
    db.session.commit()
    segment = db.session.scalar(select(Segment))
    refused = client.post(
        "/campaigns/new",
        data={"title": "T", "channel": "sms", "message": "Hi", "audience": "segment",
              "audience_segment": segment.id, "recipients": ""},
    ).get_data(as_text=True)  # fmt: skip
    assert "A filter of the segment “From an import” is no longer understood: “77” is not an import" in refused
    assert "No contact with a phone matches" not in refused
    assert db.session.scalar(select(Campaign.id)) is None
