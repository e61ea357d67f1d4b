"""Export CSV from the campaign page and the contacts list: the rows the page
lists (every page of them) as the database has them, written by one rule
(a byte-order mark, UTF-8, formulas neutralised in every column), streamed
from a server-side cursor, and recorded in the history with their count."""

from urllib.parse import unquote

import pytest
from sqlalchemy import select, text

from app import exporting
from app.audit import Action, AuditEvent
from app.auth.models import Role
from app.clock import utcnow
from app.contacts.models import Contact
from app.extensions import db
from tests.conftest import signed_in
from tests.exports import BOM, DANGEROUS, HEADER, in_database, iso, rows_of, sent_through
from tests.factories import make_campaign, make_large_campaign, make_user


def exported(client, path: str) -> list[list[str]]:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return rows_of(response.get_data())


@pytest.mark.parametrize("asked", ["", "?status=failed", "?q=person 1", "?status=sent&q=PERSON 1"])
def test_the_recipients_file_holds_the_rows_the_tab_and_search_choose_as_the_database_has_them(client, asked):
    campaign = make_campaign(30)
    sent_through(campaign)
    rows = exported(client, f"/campaigns/{campaign.id}/recipients.csv{asked}")
    assert rows[0] == HEADER
    status = "failed" if "failed" in asked else "sent" if "sent" in asked else None
    q = "person 1" if "q=" in asked else ""
    expected = in_database(campaign, status, q)
    assert rows[1:] == expected
    assert len(expected) == {"": 30, "?status=failed": 10, "?q=person 1": 11}.get(asked, 5)


def test_an_empty_tab_or_search_still_downloads_the_header(client):
    campaign = make_campaign(3)
    for asked in ("?status=failed", "?q=nobody"):
        assert exported(client, f"/campaigns/{campaign.id}/recipients.csv{asked}") == [HEADER]
    assert exported(client, "/contacts/export.csv?q=nobody")[0][:2] == ["first_name", "last_name"]
    assert len(exported(client, "/contacts/export.csv?q=nobody")) == 1


def test_a_nul_typed_in_the_search_is_dropped_rather_than_an_error(client):
    campaign = make_campaign(12)
    rows = exported(client, f"/campaigns/{campaign.id}/recipients.csv?q=person%00%201")
    assert [row[1] for row in rows[1:]] == ["Person 1", "Person 10", "Person 11", "Person 12"]
    assert client.get(f"/campaigns/{campaign.id}?q=%00").status_code == 200
    db.session.add(Contact(phone="+254712000001", location="Nairobi"))
    db.session.commit()
    assert len(exported(client, "/contacts/export.csv?location=Nai%00robi&q=%00")) == 2


def test_an_unknown_tab_or_campaign_is_refused(client):
    campaign = make_campaign(1)
    assert client.get(f"/campaigns/{campaign.id}/recipients.csv?status=lost").status_code == 400
    assert client.get("/campaigns/999999/recipients.csv").status_code == 404


def test_every_dangerous_leading_character_is_neutralised_in_every_recipient_column(client):
    campaign = make_campaign(0, title="=Sale")
    for n, first in enumerate(DANGEROUS, start=1):
        db.session.execute(
            text(
                "INSERT INTO recipients (campaign_id, line, name, address, address_normalized, status, attempts, "
                "error_code, last_error, provider_message_id, rendered_content) VALUES (:id, :n, :c || 'name', "
                ":c || 'typed', :c || 'kept' || :n, 'failed', 1, :c || 'code', :c || 'error', :c || 'id', :c || 'text')"
            ),
            {"id": campaign.id, "n": n, "c": first},
        )
    db.session.commit()
    rows = exported(client, f"/campaigns/{campaign.id}/recipients.csv")
    assert len(rows) == 1 + len(DANGEROUS)
    for first, row in zip(DANGEROUS, rows[1:], strict=True):
        texts = [row[i] for i in (1, 2, 3, 4, 7, 8, 9)]
        assert all(cell.startswith("'" + first) for cell in texts), (first, row)
        assert texts[0] == f"'{first}name"


def test_every_dangerous_leading_character_is_neutralised_in_every_contact_column_and_attribute(client):
    for n, first in enumerate(DANGEROUS):
        db.session.add(
            Contact(
                phone=f"+25471200000{n}", email=f"{first}person{n}@example.com", first_name=f"{first}first",
                last_name=f"{first}last", location=f"{first}town", preferred_product=f"{first}product",
                attributes={"note": f"{first}note", f"{first}key": f"{first}value"},
            )
        )  # fmt: skip
    db.session.commit()
    rows = exported(client, "/contacts/export.csv")
    header = rows[0]
    assert header[:7] == ["first_name", "last_name", "phone", "email", "location", "preferred_product", "created_at"]
    # Keys sorted as strings; each a column, and a key that starts like a formula is neutralised too.
    assert header[7:] == [*sorted(f"'{first}key" for first in DANGEROUS), "note"]
    for row in rows[1:]:
        cells = dict(zip(header, row, strict=True))
        created = cells.pop("created_at")
        assert created.endswith("Z")
        first = cells["first_name"][1]
        assert cells["phone"].startswith("'+2547")
        assert all(cell.startswith("'") for cell in cells.values() if cell), row
        assert cells["note"] == f"'{first}note" and cells[f"'{first}key"] == f"'{first}value"


def test_a_cell_is_neutralised_only_when_it_starts_like_a_formula():
    for first in DANGEROUS:
        assert exporting.cell(f"{first}1+2") == f"'{first}1+2"
    assert exporting.cell("a=b-c") == "a=b-c"
    assert exporting.cell(None) == "" and exporting.cell(3) == "3"


def test_the_file_is_utf8_with_a_bom_and_is_named_for_the_campaign_and_the_day(client):
    campaign = make_campaign(0, title="Été à Nairobi — Привет")
    db.session.execute(
        text(
            "INSERT INTO recipients (campaign_id, line, name, address, address_normalized) VALUES "
            "(:id, 1, 'Zoë Ñúñez', 'zoe@example.com', 'zoe@example.com'), "
            "(:id, 2, 'Дмитрий Петров', 'dima@example.com', 'dima@example.com')"
        ),
        {"id": campaign.id},
    )
    db.session.commit()
    response = client.get(f"/campaigns/{campaign.id}/recipients.csv")
    body = response.get_data()
    assert body.startswith(BOM)
    assert "Zoë Ñúñez".encode() in body and "Дмитрий Петров".encode() in body
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    day = utcnow().date().isoformat()
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f"attachment; filename=\"ete-a-nairobi-{day}.csv\"; filename*=UTF-8''")
    assert unquote(disposition.partition("filename*=UTF-8''")[2]) == f"été-à-nairobi-привет-{day}.csv"
    contacts = client.get("/contacts/export.csv")
    assert contacts.headers["Content-Disposition"] == f'attachment; filename="contacts-{day}.csv"'
    assert contacts.get_data().startswith(BOM)


def test_the_contacts_file_holds_those_the_search_and_filters_choose_newest_first(client):
    people = [
        Contact(phone="+254712000001", first_name="Ada", location="Nairobi", attributes={"plan": "gold", "tier": "1"}),
        Contact(email="bo@example.com", first_name="Bo", location="Nairobi", attributes={"plan": "gold", "pet": "cat"}),
        Contact(phone="+254712000003", first_name="Cy", location="Nairobi", attributes={"plan": "tea", "zone": "9"}),
        Contact(phone="+254712000004", first_name="Adam", location="Mombasa", attributes={"plan": "gold"}),
    ]
    db.session.add_all(people)
    db.session.commit()
    rows = exported(client, "/contacts/export.csv?location=Nairobi&attribute=plan%3Dgold")
    # The keys of the chosen contacts only: Cy's zone is not a column.
    fields = ["first_name", "last_name", "phone", "email", "location", "preferred_product", "created_at"]
    assert rows[0] == [*fields, "pet", "plan", "tier"]
    bo, ada = people[1], people[0]
    assert rows[1:] == [
        ["Bo", "", "", "bo@example.com", "Nairobi", "", iso(bo.created_at), "cat", "gold", ""],
        ["Ada", "", "'+254712000001", "", "Nairobi", "", iso(ada.created_at), "", "gold", "1"],
    ]
    assert [row[0] for row in exported(client, "/contacts/export.csv?q=ada")[1:]] == ["Adam", "Ada"]


def test_the_page_links_to_the_export_of_the_tab_and_search_it_shows(client):
    campaign = make_campaign(3)
    page = client.get(f"/campaigns/{campaign.id}?status=queued&q=Person").get_data(as_text=True)
    assert f'href="/campaigns/{campaign.id}/recipients.csv?status=queued&amp;q=Person"' in page
    listing = client.get("/contacts?location=Nairobi&attribute=plan%3Dgold").get_data(as_text=True)
    assert 'href="/contacts/export.csv?location=Nairobi&amp;attribute=plan%3Dgold"' in listing


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_export_what_it_may_read(app, role):
    campaign = make_campaign(2)
    reader = signed_in(app, make_user(role, email=f"reader-{role.value}@example.com"))
    assert len(exported(reader, f"/campaigns/{campaign.id}/recipients.csv")) == 3
    assert exported(reader, "/contacts/export.csv")[0][0] == "first_name"


def test_each_export_is_in_the_history_with_who_what_and_how_many_rows(app):
    campaign = make_campaign(4)
    viewer = make_user(Role.VIEWER, email="vera@example.com")
    reader = signed_in(app, viewer)
    exported(reader, f"/campaigns/{campaign.id}/recipients.csv?q=person")
    exported(reader, "/contacts/export.csv?location=Nairobi")
    exports = select(AuditEvent).where(AuditEvent.action.like("%.exported")).order_by(AuditEvent.id)
    events = db.session.scalars(exports).all()
    searched = '4 recipients (every status, matching "person")'
    assert [(e.action, e.actor_id, e.via, e.campaign_id, e.detail) for e in events] == [
        (Action.CAMPAIGN_EXPORTED.value, viewer.id, "web", campaign.id, searched),
        (Action.CONTACTS_EXPORTED.value, viewer.id, "web", None, "0 contacts in Nairobi"),
    ]
    page = reader.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Exported recipients (CSV) by <strong>vera@example.com</strong>" in page


def test_the_file_streams_from_a_server_side_cursor_before_the_whole_result_is_read(client):
    campaign = make_large_campaign(5_000)
    response = client.get(f"/campaigns/{campaign.id}/recipients.csv", buffered=False)
    chunks = iter(response.response)
    header = next(chunks)
    assert header.startswith(BOM) and header.count(b"\n") == 1
    first = next(chunks)
    with db.engine.connect() as other:
        reading = other.scalars(
            text("SELECT query FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE 'FETCH%'")
        ).all()
    # A cursor of the server's, part-way: its first fetch read, most of the campaign still to come.
    assert len(reading) == 1 and reading[0].startswith("FETCH FORWARD"), reading
    assert 0 < first.count(b"\n") < 5_000
    rest = b"".join(chunks)
    assert len(rows_of(header + first + rest)) == 1 + 5_000
    with db.engine.connect() as other:
        assert not other.scalars(text("SELECT query FROM pg_stat_activity WHERE query LIKE 'FETCH%'")).all()


def test_a_download_the_client_leaves_is_recorded_with_the_rows_it_was_given(client):
    campaign = make_large_campaign(5_000)
    response = client.get(f"/campaigns/{campaign.id}/recipients.csv", buffered=False)
    chunks = iter(response.response)
    given = next(chunks) + next(chunks)
    response.close()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.CAMPAIGN_EXPORTED.value))
    assert event.detail == f"only {len(rows_of(given)) - 1:,} recipients: the download stopped (every status)"
    with db.engine.connect() as other:
        assert not other.scalars(text("SELECT query FROM pg_stat_activity WHERE query LIKE 'FETCH%'")).all()
