"""Contacts: added, changed and deleted by operators (each change in the
history), found by any part of a name, phone or email and by filters, made or
updated by every pasted line, with every message they were sent."""

import subprocess
import sys

from sqlalchemy import select

from app.audit import AuditEvent
from app.auth.models import Role, User
from app.campaigns.models import Campaign, Recipient
from app.contacts.models import Contact
from app.extensions import db
from app.messaging.addresses import country_name
from tests.conftest import signed_in
from tests.factories import make_user


def add(client, **fields):
    form = {"first_name": "Ada", "last_name": "Lovelace", "phone": "+1 202 555 0143", "email": "", "location": "",
            "preferred_product": "", "attributes": ""} | fields  # fmt: skip
    return client.post("/contacts/new", data=form)


def test_an_operator_adds_a_contact_and_its_page_shows_it_with_its_history(client):
    response = add(client, email="Ada@Example.com", location="London", attributes="Plan: gold\ncity_code: LDN")
    contact = db.session.scalar(select(Contact))
    assert response.headers["Location"] == f"/contacts/{contact.id}"
    assert (contact.phone, contact.email, contact.attributes) == (
        "+12025550143",
        "ada@example.com",
        {"plan": "gold", "city_code": "LDN"},
    )
    page = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "<code>attributes.plan</code></dt><dd>gold</dd>" in page
    assert "Added the contact by <strong>operator@example.com</strong>" in page
    assert "No message yet" in page


def test_bad_contacts_are_refused_saying_what_and_where(client):
    page = add(client, phone="", email="").get_data(as_text=True)
    assert "A contact needs a phone or an email." in page
    page = add(client, phone="12345", attributes="plan gold").get_data(as_text=True)
    assert "is not a valid phone number" in page
    assert "Line 1: write it as key: value" in page and "plan gold</textarea>" in page
    add(client)
    taken = add(client, first_name="Someone else").get_data(as_text=True)
    assert '<a href="/contacts/1">Ada Lovelace</a> already has this phone.' in taken and 'value="Someone else"' in taken
    assert db.session.query(Contact).count() == 1


def test_a_change_says_what_changed_in_the_history(client):
    add(client)
    contact_id = db.session.scalar(select(Contact.id))
    form = {"first_name": "Ada", "last_name": "Lovelace", "phone": "+12025550143", "email": "",
            "location": "Paris", "preferred_product": "", "attributes": "plan: silver"}  # fmt: skip
    assert client.post(f"/contacts/{contact_id}/edit", data=form).status_code == 302
    page = client.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "Changed the contact (location, attributes) by" in page


def test_the_list_finds_by_any_part_and_filters_with_a_total(client):
    add(client, location="London", preferred_product="Tea")
    add(client, first_name="Grace", last_name="Hopper", phone="", email="grace@navy.example", location="Arlington")
    add(client, first_name="50%_off", last_name="", phone="+1 202 555 0199")
    found = client.get("/contacts?q=love").get_data(as_text=True)
    assert found.count('data-testid="contact-row"') == 1 and "1 contact found" in found
    assert client.get("/contacts?q=NAVY").get_data(as_text=True).count('data-testid="contact-row"') == 1
    assert client.get("/contacts?q=555 01").get_data(as_text=True).count('data-testid="contact-row"') == 0
    assert client.get("/contacts?q=2025550").get_data(as_text=True).count('data-testid="contact-row"') == 2
    # % and _ are what they are, not wildcards.
    assert client.get("/contacts?q=%25_").get_data(as_text=True).count('data-testid="contact-row"') == 1
    assert client.get("/contacts?location=London").get_data(as_text=True).count('data-testid="contact-row"') == 1
    page = client.get("/contacts?preferred_product=Tea&location=Arlington").get_data(as_text=True)
    assert "No contact matches" in page and "Clear the search" in page
    everyone = client.get("/contacts?page=99999999999999999999").get_data(as_text=True)
    assert "3 contacts" in everyone and everyone.count('data-testid="contact-row"') == 3
    assert client.get("/contacts?q=" + "x" * 10_000).status_code == 200


def test_pasted_lines_become_or_update_contacts_and_their_messages_are_listed(client):
    def paste(title, lines):
        client.post(
            "/campaigns/new",
            data={"title": title, "channel": "sms", "message": "Hi {first_name|there}", "recipients": lines},
        )

    paste("First", "Ada Lovelace, +1 202 555 0143\n+1 202 555 0144")
    paste("Second", "Ada King, +1 202 555 0143\n+1 202 555 0144")
    contacts = db.session.execute(select(Contact.phone, Contact.first_name, Contact.last_name).order_by(Contact.id))
    assert contacts.all() == [("+12025550143", "Ada", "King"), ("+12025550144", "", "")]
    assert db.session.scalar(select(Recipient.contact_id).where(Recipient.contact_id.is_(None))) is None
    ada = db.session.scalar(select(Contact.id).where(Contact.first_name == "Ada"))
    page = client.get(f"/contacts/{ada}").get_data(as_text=True)
    assert page.count('data-testid="contact-message"') == 2
    assert ">First</a>" in page and ">Second</a>" in page and "Hi Ada" in page
    # The paste's changes are in each contact's history, by whoever pasted;
    # a line that changed nothing (the second 0144) adds nothing.
    first, second = db.session.scalars(select(Campaign.id).order_by(Campaign.id)).all()
    history = db.session.execute(
        select(AuditEvent.contact_id, AuditEvent.action, AuditEvent.detail, AuditEvent.actor_id)
        .where(AuditEvent.contact_id.is_not(None))
        .order_by(AuditEvent.id)
    ).all()
    operator = db.session.scalar(select(User.id))
    other = db.session.scalar(select(Contact.id).where(Contact.phone == "+12025550144"))
    assert history == [
        (ada, "contact.added", f"from the recipients of campaign {first}", operator),
        (other, "contact.added", f"from the recipients of campaign {first}", operator),
        (ada, "contact.changed", f"name, from the recipients of campaign {second}", operator),
    ]
    assert f"Changed the contact (name, from the recipients of campaign {second})" in page


def test_deleting_a_messaged_contact_erases_them_and_keeps_the_counts(client):
    client.post(
        "/campaigns/new",
        data={
            "title": "T",
            "channel": "sms",
            "message": "Hi {first_name}",
            "recipients": "Ada, +12025550143\nBo, +12025550144",
        },
    )
    campaign = db.session.scalar(select(Campaign))
    ada = db.session.scalar(select(Contact).where(Contact.first_name == "Ada"))
    response = client.post(f"/contacts/{ada.id}/delete", follow_redirects=True)
    assert "Contact Ada deleted. The 1 message sent to them stay counted" in response.get_data(as_text=True)
    assert client.get(f"/contacts/{ada.id}").status_code == 404
    rows = db.session.execute(
        select(Recipient.name, Recipient.address, Recipient.rendered_content).order_by(Recipient.line)
    ).all()
    assert rows == [("", "(erased)", "(erased)"), ("Bo", "+12025550144", "Hi Bo")]
    db.session.refresh(campaign)
    assert campaign.recipient_count == 2
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.deleted"))
    assert event.contact_id == ada.id and event.detail == "1 message kept, personal fields erased"


def test_viewers_read_contacts_and_change_nothing(app, client):
    add(client)
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    page = viewer.get("/contacts").get_data(as_text=True)
    assert "Lovelace" in page and "Add contact" not in page
    assert viewer.post("/contacts/1/delete").status_code == 403


def test_a_pasted_line_is_rendered_from_its_contact_and_keeps_that_text(client):
    add(client, location="London", attributes="plan: gold")
    client.post(
        "/campaigns/new",
        data={
            "title": "Known people",
            "channel": "sms",
            "message": "Hi {first_name|there} in {location|town}, plan {attributes.plan|basic}",
            "recipients": "+1 202 555 0143\nBo, +1 202 555 0144",
        },
    )
    texts = db.session.scalars(select(Recipient.rendered_content).order_by(Recipient.line)).all()
    assert texts == ["Hi Ada in London, plan gold", "Hi Bo in town, plan basic"]
    # Changing the contact later changes no message already written for them.
    contact_id = db.session.scalar(select(Contact.id).where(Contact.first_name == "Ada"))
    client.post(
        f"/contacts/{contact_id}/edit",
        data={"first_name": "Ada", "last_name": "", "phone": "+12025550143", "email": "", "location": "Paris",
              "preferred_product": "", "attributes": ""},
    )  # fmt: skip
    assert db.session.scalar(select(Recipient.rendered_content).where(Recipient.line == 1)) == texts[0]


def contacts_campaign(client, **fields):
    form = {"title": "To contacts", "channel": "sms", "message": "Hi {first_name}, {attributes.plan|basic}",
            "audience": "contacts", "recipients": ""} | fields  # fmt: skip
    return client.post("/campaigns/new", data=form)


def test_a_campaign_goes_to_the_contacts_its_filters_choose(client):
    add(client, first_name="Mary Ann", last_name="Evans", location="London", attributes="plan: gold")
    add(client, first_name="Bo", phone="+1 202 555 0144", location="London")
    add(client, first_name="Cy", phone="+1 202 555 0145", location="Paris", attributes="plan: gold")
    add(client, first_name="Di", phone="", email="di@example.com", location="London")  # no phone: not for SMS
    response = contacts_campaign(client, audience_location="London")
    assert response.status_code == 302
    rows = db.session.execute(
        select(Recipient.name, Recipient.address_normalized, Recipient.rendered_content, Recipient.contact_id).order_by(
            Recipient.line
        )
    ).all()
    assert [(r.name, r.address_normalized, r.rendered_content) for r in rows] == [
        ("Mary Ann Evans", "+12025550143", "Hi Mary Ann, gold"),
        ("Bo Lovelace", "+12025550144", "Hi Bo, basic"),  # add() gives everyone last name Lovelace
    ]
    assert all(r.contact_id for r in rows)
    # Choosing contacts changes none of them.
    assert db.session.scalar(select(Contact.first_name).where(Contact.phone == "+12025550143")) == "Mary Ann"

    contacts_campaign(client, title="Gold", audience_attribute="plan=gold")
    gold = db.session.scalar(select(Campaign).where(Campaign.title == "Gold"))
    assert gold.recipient_count == 2


def test_an_audience_that_chooses_nobody_is_refused_saying_why(client):
    add(client, location="London")
    page = contacts_campaign(client, audience_location="Rome").get_data(as_text=True)
    assert "No contact with a phone matches these filters, leaving out those who opted out of SMS." in page
    assert db.session.scalar(select(Campaign.id)) is None


BAD_ATTRIBUTE = "“gold” is not an attribute filter: write it as key=value, such as plan=gold."


def test_a_bad_attribute_filter_is_said_at_once_by_the_count_and_alone_on_create(client):
    add(client, location="London")
    size = client.post("/campaigns/audience", data={"channel": "sms", "audience_attribute": "gold"})
    said = size.get_data(as_text=True)
    assert BAD_ATTRIBUTE in said and "Correct it to see how many contacts match." in said
    assert "<strong>" not in said  # no count that leaves the filter out
    page = contacts_campaign(client, audience_attribute="gold").get_data(as_text=True)
    assert BAD_ATTRIBUTE in page
    assert "No contact with a phone matches" not in page
    assert db.session.scalar(select(Campaign.id)) is None


def test_an_audience_larger_than_a_campaign_takes_is_refused_saying_how_many(client, config):
    config(RECIPIENT_LINE_LIMIT=2)
    for n in range(3):
        add(client, first_name=f"P{n}", phone=f"+1 202 555 014{n}", location="London")
    page = contacts_campaign(client, audience_location="London").get_data(as_text=True)
    assert "3 contacts match; a campaign takes at most 2. Narrow the filters." in page
    assert db.session.scalar(select(Campaign.id)) is None


def test_the_form_shows_the_audience_size_as_the_filters_change(client):
    add(client, location="London")
    add(client, first_name="Bo", phone="", email="bo@example.com", location="London")
    size = client.post("/campaigns/audience", data={"channel": "sms", "audience_location": "London"})
    assert (
        "<strong>1 contact</strong> with a phone matches these filters, leaving out those who opted out of SMS."
        in size.get_data(as_text=True)
    )
    size = client.post("/campaigns/audience", data={"channel": "email", "audience_location": ""})
    assert "<strong>1 contact</strong> with an email matches" in size.get_data(as_text=True)
    size = client.post("/campaigns/audience", data={"channel": "sms", "audience_location": "Rome"})
    assert (
        "<strong>0 contacts</strong> with a phone match these filters, leaving out those who opted out of SMS."
        in size.get_data(as_text=True)
    )


def test_the_preview_shows_the_audience_s_first_contacts_as_they_will_get_it(client):
    add(client, location="London", attributes="plan: gold")
    add(client, first_name="Bo", phone="+1 202 555 0144", location="Paris")
    page = client.post(
        "/campaigns/preview",
        data={"channel": "sms", "message": "Hi {first_name} in {location}, {attributes.plan|basic}",
              "audience": "contacts", "audience_location": "London", "recipients": ""},
    ).get_data(as_text=True)  # fmt: skip
    assert page.count('data-testid="preview-message"') == 1
    assert "To Ada Lovelace" in page and "Hi Ada in London, gold" in page
    assert "For 1 recipient:" in page


def test_a_message_too_long_with_what_the_contact_book_knows_is_refused_on_save(client, config):
    config(SMS_MAX_SEGMENTS=1)
    add(client, location="L" * 100)
    page = client.post(
        "/campaigns/new",
        data={"title": "Long", "channel": "sms", "message": "x" * 100 + " {location}", "recipients": "+12025550143"},
    ).get_data(as_text=True)
    assert "Too long for 1 recipient (line 1: 2 SMS segments; at most 1 are sent as one message)." in page
    assert db.session.scalar(select(Campaign.id)) is None


def test_the_preview_of_a_paste_says_what_the_contact_book_will_fill_in(client):
    add(client, location="London")
    page = client.post(
        "/campaigns/preview",
        data={"channel": "sms", "message": "Hi {first_name|there} in {location|town}",
              "recipients": "+1 202 555 0143\nBo, +1 202 555 0199"},
    ).get_data(as_text=True)  # fmt: skip
    assert "Hi Ada in London" in page and "Hi Bo in town" in page


def test_an_audience_of_contacts_is_measured_with_their_own_names(client, config):
    config(SMS_MAX_SEGMENTS=1)
    add(client, first_name="Mary Ann", last_name="Evans")
    # 155 + 8 characters: too long as "Mary Ann", though "Mary" alone would fit.
    page = contacts_campaign(client, message="x" * 155 + "{first_name}").get_data(as_text=True)
    assert "Too long for 1 recipient (line 1: 2 SMS segments" in page


def test_a_contact_with_attributes_opens_for_editing_with_them_filled_in(client):
    add(client, attributes="plan: gold\ntier: 2")
    contact_id = db.session.scalar(select(Contact.id))
    page = client.get(f"/contacts/{contact_id}/edit")
    assert page.status_code == 200
    assert "plan: gold\ntier: 2</textarea>" in page.get_data(as_text=True)


def test_a_bad_filter_on_a_list_is_named_above_it_and_ignored(client):
    add(client)
    page = client.get("/contacts?opted_out=lots&attribute=gold&import=99").get_data(as_text=True)
    assert page.count('data-testid="contact-row"') == 1
    assert "“lots” is not an opted-out choice this list knows (yes or no). It was ignored." in page
    assert f"{BAD_ATTRIBUTE} It was ignored." in page
    assert "“99” is not an import this list knows. It was ignored." in page
    # What was typed stays in its box.
    assert 'name="attribute" value="gold"' in page
    opt_outs = client.get("/opt-outs?channel=fax").get_data(as_text=True)
    assert "“fax” is not a channel this list knows; it was ignored." in opt_outs


def test_attribute_filters_match_keys_in_any_case_and_values_exactly(client):
    add(client, attributes="Plan: Gold")
    add(client, first_name="Bo", phone="+1 202 555 0144", attributes="plan: gold")
    for asked in ("attribute=Plan%3DGold", "attribute=plan+%3D+Gold", "attributes.PLAN=Gold"):
        page = client.get(f"/contacts?{asked}").get_data(as_text=True)
        assert page.count('data-testid="contact-row"') == 1, asked
        assert "Ada" in page and "1 contact found: with plan = Gold" in page
    size = client.post("/campaigns/audience", data={"channel": "sms", "audience_attribute": "PLAN=Gold"})
    assert "<strong>1 contact</strong>" in size.get_data(as_text=True)
    # Both forms say how a value matches.
    rule = "the key in any case, the value exactly as stored (Gold is not gold)"
    assert rule in client.get("/contacts").get_data(as_text=True)
    assert rule in client.get("/campaigns/new").get_data(as_text=True)


def test_the_list_narrows_as_one_types_and_shows_chosen_attributes_as_columns(client):
    add(client, attributes="plan: gold\ntier: 2")
    add(client, first_name="Bo", phone="+1 202 555 0144", attributes="tier: 1")
    page = client.get("/contacts").get_data(as_text=True)
    # The search asks for the table only, as one types, and keeps the search in the URL.
    assert 'hx-trigger="input changed delay:300ms, submit"' in page and 'hx-target="#contact-list"' in page
    assert 'value="plan"' in page and 'value="tier"' in page  # the columns offered, from the data
    htmx = {"HX-Request": "true", "HX-Target": "contact-list"}
    html = client.get("/contacts?q=bo&column=Tier&column=nope!", headers=htmx).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="contact-list"')
    assert html.count('data-testid="contact-row"') == 1
    assert '<th scope="col"><code>tier</code></th>' in html and "nope" not in html
    assert '<td data-label="tier" data-testid="attribute-cell">1</td>' in html


def test_the_phone_hint_names_the_country_not_the_setting(client):
    for path in ("/contacts/new", "/opt-outs"):
        page = client.get(path).get_data(as_text=True)
        assert "as dialled locally (Kenya: 0712 123456)" in page, path
        assert "DEFAULT_REGION" not in page, path


def test_country_names_are_the_ones_in_common_use():
    assert [country_name(region) for region in ("KE", "kr", "GB", "ZZ")] == [
        "Kenya",
        "South Korea",
        "United Kingdom",
        "ZZ",
    ]


def test_no_process_of_ours_loads_the_phone_geocoders_data():
    """About 100 MB in each web and worker process (twice, with a work horse),
    for a country's name in one hint."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, app, jobs.send; print('phonenumbers.geodata' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
