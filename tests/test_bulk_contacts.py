"""A change to every contact a filter chooses: add or remove an attribute, or
delete them (their messages kept with personal fields erased), each confirmed
with its count, made on the filter in batches, by a real RQ worker when it is
larger than one batch, and recorded as one event in the history."""

from sqlalchemy import select, text, update

from app.audit import AuditEvent
from app.campaigns.models import Campaign, Recipient
from app.contacts import bulk
from app.contacts.models import Contact, ContactChange
from app.extensions import db, redis

HTMX = {"HX-Request": "true"}


def people(count: int = 4) -> None:
    cities = ["Nairobi", "Nairobi", "Mombasa"]
    db.session.add_all(
        [
            Contact(first_name=f"P{n}", phone=f"+1202555{n:04d}", location=cities[n % 3], attributes={"plan": "gold"})
            for n in range(count)
        ]
    )
    db.session.commit()


def attributes() -> dict[str, dict]:
    return dict(db.session.execute(select(Contact.first_name, Contact.attributes).order_by(Contact.id)).all())


def history(action: str) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == action)))


def test_an_attribute_is_set_on_every_contact_the_filters_choose_after_a_confirmation(client):
    people()
    listed = client.get("/contacts?location=Nairobi").get_data(as_text=True)
    assert "Change these 3 contacts" in listed and 'hx-target="#dialog-slot"' in listed
    dialog = client.get(
        "/contacts/bulk?location=Nairobi&change=set_attribute&change_attribute=Tier%3D2", headers=HTMX
    ).get_data(as_text=True)
    assert '<dialog id="bulk-dialog"' in dialog
    assert (
        "Set tier = 2 on 3 contacts?" in dialog
        and "The contacts in Nairobi: <strong>3 contacts</strong> now." in dialog
    )
    assert '<input type="hidden" name="expected" value="3">' in dialog
    done = client.post(
        "/contacts/bulk",
        data={"location": "Nairobi", "change": "set_attribute", "change_attribute": "Tier=2", "expected": "3"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Done: tier = 2 set on 3 contacts in Nairobi." in done
    assert attributes() == {
        "P0": {"plan": "gold", "tier": "2"},
        "P1": {"plan": "gold", "tier": "2"},
        "P2": {"plan": "gold"},
        "P3": {"plan": "gold", "tier": "2"},
    }
    assert history("contacts.attribute_set") == ["tier = 2 set on 3 contacts in Nairobi"]
    assert "Set an attribute of contacts: tier = 2 set on 3 contacts in Nairobi by" in done


def test_an_attribute_is_removed_from_the_contacts_chosen(client):
    people()
    client.post(
        "/contacts/bulk",
        data={"location": "Mombasa", "change": "remove_attribute", "change_attribute": "PLAN", "expected": "1"},
    )
    assert attributes() == {"P0": {"plan": "gold"}, "P1": {"plan": "gold"}, "P2": {}, "P3": {"plan": "gold"}}
    assert history("contacts.attribute_removed") == ["plan removed from 1 contact in Mombasa"]


def test_deleting_the_chosen_contacts_erases_their_messages_and_keeps_the_counts(client):
    people()
    client.post(
        "/campaigns/new",
        data={"title": "T", "channel": "sms", "message": "Hi {first_name}", "recipients": "+12025550000\n+12025550002"},
    )
    dialog = client.get("/contacts/bulk?location=Nairobi&change=delete", headers=HTMX).get_data(as_text=True)
    assert "Delete 3 contacts?" in dialog and "This cannot be undone." in dialog
    client.post("/contacts/bulk", data={"location": "Nairobi", "change": "delete", "expected": "3"})
    assert list(attributes()) == ["P2"]
    rows = db.session.execute(
        select(Recipient.name, Recipient.address, Recipient.rendered_content).order_by(Recipient.line)
    )
    assert rows.all() == [("", "(erased)", "(erased)"), ("", "+12025550002", "Hi P2")]
    assert db.session.scalar(select(Campaign.recipient_count)) == 2
    assert history("contacts.deleted") == ["3 contacts in Nairobi; 1 message sent to them kept, personal fields erased"]


def test_a_filter_not_understood_or_no_attribute_changes_nothing(client):
    people()
    dialog = client.get("/contacts/bulk?attribute=gold&change=delete", headers=HTMX).get_data(as_text=True)
    assert "Nothing was changed" in dialog
    assert "“gold” is not an attribute filter" in dialog and "no change is made with one left out" in dialog
    assert "confirm-bulk" not in dialog
    refused = client.post(
        "/contacts/bulk", data={"attribute": "gold", "change": "delete", "expected": "4"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Nothing was changed." in refused
    page = client.get("/contacts/bulk?change=set_attribute&change_attribute=gold").get_data(as_text=True)
    assert "Write the attribute to set as key=value, such as plan=gold." in page
    assert len(attributes()) == 4 and db.session.scalar(select(ContactChange.id)) is None


def test_a_change_larger_than_a_batch_runs_as_a_job_batch_by_batch(client, config, run_worker):
    config(BULK_CHANGE_BATCH_ROWS=3)
    people(10)
    response = client.post(
        "/contacts/bulk", data={"change": "set_attribute", "change_attribute": "tier=1", "expected": "10"}
    )
    change = db.session.scalar(select(ContactChange))
    assert response.headers["Location"] == f"/contacts/changes/{change.id}"
    waiting = client.get(f"/contacts/changes/{change.id}").get_data(as_text=True)
    assert "Waiting for a worker" in waiting and 'hx-trigger="every 2s"' in waiting
    # Added after the confirmation: the change is made to what the filters choose when it runs.
    db.session.add(Contact(first_name="Late", phone="+12025559999"))
    db.session.commit()
    run_worker()
    db.session.refresh(change)
    assert (change.status, change.done_count) == ("done", 11)
    assert all(found["tier"] == "1" for found in attributes().values())
    block = client.get(f"/contacts/changes/{change.id}", headers={**HTMX, "HX-Target": "change-status"})
    assert "tier = 1 set on 11 contacts (every contact)." in block.get_data(as_text=True)
    assert "every 2s" not in block.get_data(as_text=True)
    assert history("contacts.attribute_set") == ["tier = 1 set on 11 contacts (every contact)"]


def test_a_change_whose_job_stopped_is_queued_again_and_resumes_after_its_last_batch(client, config, run_worker):
    config(BULK_CHANGE_BATCH_ROWS=2)
    people(5)
    client.post("/contacts/bulk", data={"change": "delete", "expected": "5"})
    change = db.session.scalar(select(ContactChange))
    # As a worker killed after its first batch leaves it: running, two done, its heartbeat old.
    first_two = db.session.scalars(select(Contact.id).order_by(Contact.id).limit(2)).all()
    db.session.execute(text("DELETE FROM contacts WHERE id = ANY(:ids)"), {"ids": first_two})
    db.session.execute(
        update(ContactChange)
        .where(ContactChange.id == change.id)
        .values(status="running", done_count=2, after_id=first_two[-1], heartbeat_at=text("now() - interval '1 hour'"))
    )
    db.session.commit()
    redis.client.flushdb()  # its job is gone with the worker
    assert bulk.requeue_stalled() == [change.id]
    assert bulk.requeue_stalled() == [], "its heartbeat moved on: not queued twice"
    run_worker()
    db.session.refresh(change)
    assert (change.status, change.done_count) == ("done", 5)
    assert attributes() == {}
