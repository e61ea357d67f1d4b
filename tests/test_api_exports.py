"""Export CSV through the API: the same files as the pages' Export CSV, with
a token, the listing endpoints' filters and problems for what is refused."""

from sqlalchemy import select

from app.audit import Action, AuditEvent
from app.auth.models import Role
from app.contacts.models import Contact
from app.extensions import db
from tests.api import api_client, assert_problem
from tests.exports import HEADER, in_database, rows_of, sent_through
from tests.factories import make_campaign


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="spring-sale-')
    assert response.headers["Cache-Control"] == "no-store"
    return rows_of(response.get_data())


def test_a_viewers_token_exports_a_campaigns_recipients_with_the_listings_filters(app):
    campaign = make_campaign(30)
    sent_through(campaign)
    api = api_client(app, Role.VIEWER)
    path = f"/api/v1/campaigns/{campaign.id}/recipients.csv"
    everyone = csv_rows(api.get(path))
    assert everyone[0] == HEADER
    assert everyone[1:] == in_database(campaign)
    assert csv_rows(api.get(f"{path}?status=failed"))[1:] == in_database(campaign, "failed")
    assert csv_rows(api.get(f"{path}?status=sent&q=person%201"))[1:] == in_database(campaign, "sent", "person 1")
    # pending: queued or retrying, as the JSON listing reads it.
    assert csv_rows(api.get(f"{path}?status=pending"))[1:] == in_database(campaign, "queued")
    assert csv_rows(api.get(f"{path}?q=nobody")) == [HEADER]
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == Action.CAMPAIGN_EXPORTED.value).order_by(AuditEvent.id)
    ).first()
    assert (event.actor_id, event.via, event.campaign_id, event.detail) == (
        api.user.id,
        "api",
        campaign.id,
        "30 recipients (every status)",
    )


def test_refused_exports_are_problems(app, anonymous):
    campaign = make_campaign(1)
    api = api_client(app, Role.VIEWER)
    assert_problem(api.get("/api/v1/campaigns/999999/recipients.csv"), 404, "not-found")
    assert_problem(api.get(f"/api/v1/campaigns/{campaign.id}/recipients.csv?status=lost"), 400, "invalid-request")
    assert_problem(api.get("/api/v1/customers.csv?attributes.Bad%20Key=1"), 400, "invalid-request")
    refused = anonymous.get(f"/api/v1/campaigns/{campaign.id}/recipients.csv")
    assert_problem(refused, 401, "unauthorized")
    assert_problem(anonymous.get("/api/v1/customers.csv"), 401, "unauthorized")
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("%.exported"))).all()


def test_a_token_exports_the_customers_the_filters_choose_with_attributes_as_columns(app):
    db.session.add_all(
        [
            Contact(phone="+254712000001", first_name="Ada", location="Nairobi", attributes={"plan": "gold"}),
            Contact(phone="+254712000002", first_name="Bo", location="Nairobi", attributes={"plan": "tea", "x": "1"}),
            Contact(email="cy@example.com", first_name="Cy", location="Kisumu", attributes={"plan": "gold"}),
        ]
    )
    db.session.commit()
    api = api_client(app, Role.VIEWER)
    response = api.get("/api/v1/customers.csv?location=Nairobi&attributes.plan=gold")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="contacts-')
    rows = rows_of(response.get_data())
    assert rows[0][7:] == ["plan"]
    assert [(row[0], row[2], row[7]) for row in rows[1:]] == [("Ada", "'+254712000001", "gold")]
    everyone = rows_of(api.get("/api/v1/customers.csv").get_data())
    assert [row[0] for row in everyone[1:]] == ["Cy", "Bo", "Ada"] and everyone[0][7:] == ["plan", "x"]
    assert [row[0] for row in rows_of(api.get("/api/v1/customers.csv?q=cy@").get_data())[1:]] == ["Cy"]
    details = db.session.scalars(
        select(AuditEvent.detail).where(AuditEvent.action == Action.CONTACTS_EXPORTED.value).order_by(AuditEvent.id)
    ).all()
    assert details == ["1 contact in Nairobi, with plan = gold", "3 contacts", "1 contact matching “cy@”"]
