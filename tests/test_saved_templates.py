"""Saved templates: named messages per channel that a campaign starts from,
changed by operators, read by everyone, each change in the history."""

from sqlalchemy import select

from app.auth.models import Role
from app.campaigns.models import Campaign
from app.extensions import db
from app.saved_templates.models import SavedTemplate
from tests.conftest import signed_in
from tests.factories import make_user


def save(client, name="Reminder", channel="sms", message="Hi {first_name|there}, see you tomorrow.", subject=""):
    return client.post(
        "/templates/new", data={"name": name, "channel": channel, "subject": subject, "message": message}
    )


def test_an_operator_saves_a_template_and_it_is_listed_with_its_history(client):
    response = save(client)
    assert response.status_code == 302 and response.headers["Location"] == "/templates"
    page = client.get("/templates").get_data(as_text=True)
    assert page.count('data-testid="saved-template"') == 1
    assert "Hi {first_name|there}, see you tomorrow." in page
    assert "Saved the template “Reminder” by <strong>operator@example.com</strong>" in page


def test_bad_templates_are_refused_saying_why_and_keep_what_was_typed(client):
    page = save(client, message="Hi {nickname}").get_data(as_text=True)
    assert "Unknown placeholder {nickname}." in page and "Hi {nickname}</textarea>" in page
    save(client)
    taken = save(client, message="Another text").get_data(as_text=True)
    assert "There is already an SMS template named “Reminder”." in taken and "Another text</textarea>" in taken
    assert save(client, channel="email", subject="About {first_name}").status_code == 302  # another channel
    assert db.session.scalars(select(SavedTemplate.channel).order_by(SavedTemplate.id)).all() == ["sms", "email"]
    assert (
        db.session.scalar(select(SavedTemplate.subject).where(SavedTemplate.channel == "email")) == "About {first_name}"
    )


def test_editing_and_deleting_are_in_the_history(client):
    save(client)
    template_id = db.session.scalar(select(SavedTemplate.id))
    form = {"name": "Reminder 2", "channel": "sms", "subject": "", "message": "Changed"}
    assert client.post(f"/templates/{template_id}/edit", data=form).status_code == 302
    assert db.session.get(SavedTemplate, template_id).message == "Changed"
    assert client.post(f"/templates/{template_id}/delete").status_code == 302
    assert db.session.get(SavedTemplate, template_id) is None
    page = client.get("/templates").get_data(as_text=True)
    assert "No templates yet." in page
    assert "Changed the template “Reminder 2”" in page and "Deleted the template “Reminder 2”" in page
    assert client.post(f"/templates/{template_id}/delete").status_code == 404


def test_a_campaign_starts_from_a_template_and_keeps_its_own_copy(client):
    save(client, name="Flu shots", channel="email", subject="For {first_name|you}", message="Book at the clinic.")
    template_id = db.session.scalar(select(SavedTemplate.id))
    assert "Start from a saved template" in client.get("/campaigns/new").get_data(as_text=True)
    form = client.get(f"/campaigns/new?template={template_id}").get_data(as_text=True)
    assert 'value="Flu shots"' in form and 'value="For {first_name|you}"' in form
    assert "Book at the clinic.</textarea>" in form and '<option selected value="email">' in form
    client.post(
        "/campaigns/new",
        data={"title": "Flu shots", "channel": "email", "subject": "For {first_name|you}",
              "message": "Book at the clinic.", "recipients": "ada@example.com"},
    )  # fmt: skip
    client.post(
        f"/templates/{template_id}/edit",
        data={"name": "Flu shots", "channel": "email", "subject": "", "message": "Something else"},
    )
    assert db.session.scalar(select(Campaign.message)) == "Book at the clinic."
    # An unknown template number is just an empty form.
    assert client.get("/campaigns/new?template=999").status_code == 200


def test_viewers_read_templates_but_do_not_change_them(app, client):
    save(client)
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    page = viewer.get("/templates").get_data(as_text=True)
    assert "Hi {first_name|there}" in page and "New template" not in page and "Use in a new campaign" not in page
    assert viewer.post("/templates/new", data={"name": "x", "channel": "sms", "message": "y"}).status_code == 403
