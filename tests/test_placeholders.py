"""A message is a template (the API contract's grammar): rendered for each
recipient once, stored on its row, shown, and what the provider is sent."""

import html
import re

import pytest
from sqlalchemy import select, text

from app.campaigns.models import Campaign, Recipient
from app.contacts.book import render_sql, values_of
from app.contacts.models import Contact
from app.extensions import db
from app.messaging import placeholders
from app.messaging.channels import Channel
from app.messaging.placeholders import Values
from jobs.provider import Ledger
from tests.helpers import reread

ADA = Values({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}, {"plan": "gold"})
NOBODY = Values({}, {})


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("Hi {first_name}!", ADA, "Hi Ada!"),
        ("Hi {first_name}!", NOBODY, "Hi !"),  # no whitespace clean-up
        ("Hi {first_name|there}!", NOBODY, "Hi there!"),
        ("Hi {first_name|there}!", ADA, "Hi Ada!"),
        ("{first_name} {last_name} <{email}>", ADA, "Ada Lovelace <ada@example.com>"),
        ("Your plan: {attributes.plan|basic}", ADA, "Your plan: gold"),
        ("Your plan: {attributes.tier|basic}", ADA, "Your plan: basic"),  # a missing attribute is empty
        ("{attributes.tier}", ADA, ""),
        ("{prefered_product|tea}", Values({"preferred_product": "coffee"}, {}), "coffee"),  # [001]'s spelling
        # Not placeholders, so literal: capitals, spaces, a lone brace, a fallback with a bar.
        ("{First_Name} { x } {", ADA, "{First_Name} { x } {"),
        ("{first_name|a|b}", ADA, "{first_name|a|b}"),
        ("Привет, {first_name|друг} 👋", NOBODY, "Привет, друг 👋"),
        ("Привет, {first_name|друг} 👋", Values({"first_name": "Ада"}, {}), "Привет, Ада 👋"),
    ],
)
def test_rendering_fills_values_and_fallbacks(template, values, expected):
    assert placeholders.render(template, values) == expected


def test_unknown_placeholders_are_named_and_the_valid_ones_listed():
    assert placeholders.unknown("Hi {first_name}, {nickname} {attributes.x} {prefered_product} {nickname|x}") == [
        "nickname"
    ]
    message = placeholders.unknown_message(["nickname", "city"])
    assert message.startswith("Unknown placeholders {nickname}, {city}. Valid: {first_name}, {last_name},")
    assert "{attributes.KEY}" in message
    assert placeholders.unknown("No placeholders at all, {Not_One}") == []


def test_a_pasted_name_gives_first_and_last_name():
    values = placeholders.from_paste("Grace  Brewster Hopper", "+12025550143", Channel.SMS)
    assert values.fields == {"first_name": "Grace", "last_name": "Brewster Hopper", "phone": "+12025550143"}
    assert placeholders.from_paste("", "ada@example.com", Channel.EMAIL).fields["first_name"] == ""
    ada = placeholders.from_paste("Ada", "ada@example.com", Channel.EMAIL)
    # What a preview marks: the placeholders with nothing to fill them and no fallback.
    parts = placeholders.parts("Hi {first_name} {last_name} {last_name|x} {email} {phone}", ada)
    assert [text for text, empty in parts if empty] == ["{last_name}", "{phone}"]
    assert "".join(text for text, _ in parts) == "Hi Ada {last_name} x ada@example.com {phone}"


def create(client, message, subject="", channel="email", recipients="Ada Lovelace, ada@example.com\nbob@example.com"):
    return client.post(
        "/campaigns/new",
        data={"title": "Hello", "channel": channel, "subject": subject, "message": message, "recipients": recipients},
    )


@pytest.mark.parametrize("form", ["/campaigns/new", "/templates/new"])
def test_the_message_hint_lists_every_placeholder_the_grammar_knows(client, form):
    page = html.unescape(client.get(form).get_data(as_text=True))
    [hint] = re.findall(r'<small id="message-help"[^>]*>(.*?)</small>', page, re.S)
    for name in (*placeholders.KNOWN, "attributes.KEY", "first_name|there"):
        assert "{" + name + "}" in hint, name


def test_an_unknown_placeholder_is_refused_naming_it_and_the_typed_text_stays(client):
    response = create(client, "Hi {nickname}, see {attributes.plan}", subject="For {surname}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and db.session.scalar(select(Campaign.id)) is None
    assert "Unknown placeholder {nickname}. Valid: {first_name}" in page
    assert "Unknown placeholder {surname}." in page
    assert "Hi {nickname}, see {attributes.plan}</textarea>" in page


def test_each_recipient_gets_its_own_text_stored_and_shown(client):
    response = create(client, "Hi {first_name|there}, from {email}", subject="For {first_name|you}")
    campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
    rows = db.session.execute(
        select(Recipient.id, Recipient.rendered_content, Recipient.rendered_subject).order_by(Recipient.line)
    ).all()
    assert [(r.rendered_content, r.rendered_subject) for r in rows] == [
        ("Hi Ada, from ada@example.com", "For Ada"),
        ("Hi there, from bob@example.com", "For you"),
    ]
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Hi Ada, from ada@example.com" in page and "Hi there, from bob@example.com" in page
    assert "<strong>Subject:</strong> For {first_name|you}" in page
    detail = client.get(f"/campaigns/{campaign_id}/recipients/{rows[0].id}").get_data(as_text=True)
    assert 'data-testid="rendered-subject">For Ada<' in detail
    assert 'data-testid="rendered-content">Hi Ada, from ada@example.com<' in detail


def test_a_message_without_placeholders_stores_no_copy_per_recipient(client):
    response = create(client, "Hello {Not_A_Placeholder}", channel="sms", recipients="Ada, +12025550143")
    assert response.status_code == 302
    assert db.session.execute(select(Recipient.rendered_content, Recipient.rendered_subject)).one() == (None, None)
    assert db.session.scalar(select(Campaign.subject)) is None  # and no subject off email


def test_editing_a_draft_renders_its_recipients_afresh(client):
    campaign_id = int(create(client, "Hi {first_name}").headers["Location"].rsplit("/", 1)[1])
    client.post(
        f"/campaigns/{campaign_id}/edit",
        data={
            "title": "Hello",
            "channel": "email",
            "subject": "",
            "message": "Bye {last_name|friend}",
            "recipients": "Ada Lovelace, ada@example.com\nbob@example.com",
        },
    )
    assert db.session.scalars(select(Recipient.rendered_content).order_by(Recipient.line)).all() == [
        "Bye Lovelace",
        "Bye friend",
    ]


def test_the_provider_is_sent_each_recipient_s_own_text(app, client, run_worker, redis_client, config):
    config(PROVIDER_FAILURE_RATE=0)  # a failed send leaves nothing delivered to read
    response = create(client, "Hi {first_name|there}!", subject="News for {first_name|you}")
    campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/campaigns/{campaign_id}/start")
    run_worker()
    assert reread(db.session.get(Campaign, campaign_id)).status == "completed"
    entries = Ledger(redis_client).entries()
    sent = {
        r.id: entries[f"recipient-{r.id}"]["content"]
        for r in db.session.scalars(select(Recipient).order_by(Recipient.line))
    }
    assert list(sent.values()) == ["Subject: News for Ada\n\nHi Ada!", "Subject: News for you\n\nHi there!"]


def test_an_email_without_a_subject_goes_with_its_title(app, client, run_worker, redis_client, config):
    config(PROVIDER_FAILURE_RATE=0)
    response = create(client, "Plain", subject="")
    campaign_id = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/campaigns/{campaign_id}/start")
    run_worker()
    contents = {entry["content"] for entry in Ledger(redis_client).entries().values()}
    assert contents == {"Subject: Hello\n\nPlain"}


SQL_TEMPLATES = [
    "Hi {first_name}, check out {preferred_product} in {location}!",
    "Hi {first_name|there} {last_name}!",
    "{prefered_product}{phone}{email}",
    "Plan: {attributes.plan|none}, tier {attributes.tier}.",
    "{unknown|fallback} {First_Name} { x } {lone",
    "No placeholder at all: 100% {}",
    "",
    "{first_name}" * 150,  # more pieces than concat() takes
]


def test_rendering_in_sql_gives_what_rendering_in_python_gives(app):
    """The API's send renders many customers' texts in its INSERT … SELECT (book.render_sql)."""
    db.session.add_all(
        [
            Contact(
                phone="+254700000001", first_name="Ada", last_name="", location="Nairobi", attributes={"plan": "gold"}
            ),
            Contact(email="b@example.com", first_name="", preferred_product="Shoes", attributes={"tier": "2"}),
        ]
    )
    db.session.commit()
    contacts = db.session.scalars(select(Contact).order_by(Contact.id)).all()
    for template in SQL_TEMPLATES:
        expression, params = render_sql(template, "p")
        rendered = db.session.scalars(text(f"SELECT {expression} FROM contacts AS c ORDER BY c.id"), params).all()
        assert rendered == [placeholders.render(template, values_of(c)) for c in contacts], template
