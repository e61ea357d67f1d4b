"""One rule splits a whole name into first and last name, whichever door it
comes in by: a line pasted in the New campaign form, a line sent to the API's
recipients endpoint, or an imported file's full-name column. "Last, First"
when the name has a comma; else the first word, and the rest."""

import csv
import io

import pytest
from sqlalchemy import select

from app.campaigns.models import Recipient
from app.contacts.models import Contact
from app.extensions import db
from app.messaging.names import split_name
from tests.api import api_client

# What was typed → (first name, last name).
NAMES = {
    "Grace Brewster Hopper": ("Grace", "Brewster Hopper"),
    "Hopper, Grace": ("Grace", "Hopper"),
    "Hopper, Grace Brewster": ("Grace Brewster", "Hopper"),
    "Lovelace,Ada": ("Ada", "Lovelace"),
    "  Ada   King  ": ("Ada", "King"),
    "Ada": ("Ada", ""),
}
PHONES = [f"+2547120000{i:02d}" for i in range(len(NAMES))]
MESSAGE = "Hi {first_name}, of the {last_name|nameless} family"


@pytest.mark.parametrize(("typed", "split"), NAMES.items())
def test_a_name_with_a_comma_is_last_first_and_one_without_is_first_word_then_the_rest(typed, split):
    assert split_name(typed) == split


def test_no_comma_is_ever_part_of_a_name():
    assert split_name("Hopper, Grace, Rear Admiral") == ("Grace Rear Admiral", "Hopper")
    assert split_name("Hopper,") == ("", "Hopper")


def _pasted_lines() -> str:
    # Tab-separated, as a spreadsheet gives it: a comma is then part of the name cell.
    return "\n".join(f"{name}\t{phone}" for name, phone in zip(NAMES, PHONES, strict=True))


def _by_form(app, client, run_worker) -> None:
    response = client.post(
        "/campaigns/new", data={"title": "Names", "channel": "sms", "message": MESSAGE, "recipients": _pasted_lines()}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def _by_api(app, client, run_worker) -> None:
    api = api_client(app)
    created = api.post("/api/v1/campaigns", json={"name": "Names", "channel": "sms", "base_template": MESSAGE})
    added = api.post(f"/api/v1/campaigns/{created.get_json()['id']}/recipients", json={"text": _pasted_lines()})
    assert added.status_code == 201, added.get_json()


def _by_import(app, client, run_worker) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "phone"])
    writer.writerows(zip(NAMES, PHONES, strict=True))
    uploaded = client.post(
        "/contacts/imports/new",
        data={"file": (io.BytesIO(out.getvalue().encode()), "names.csv")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 302, uploaded.get_data(as_text=True)
    started = client.post(uploaded.headers["Location"] + "/start", data={"column-0": "name", "column-1": "phone"})
    assert started.status_code == 302, started.get_data(as_text=True)
    run_worker()
    db.session.commit()


@pytest.mark.parametrize("door", [_by_form, _by_api, _by_import], ids=["pasted in the form", "API", "CSV import"])
def test_every_door_splits_a_name_the_same_way(app, client, run_worker, door):
    door(app, client, run_worker)
    rows = db.session.execute(select(Contact.phone, Contact.first_name, Contact.last_name))
    stored = {phone: (first, last) for phone, first, last in rows}
    assert stored == dict(zip(PHONES, NAMES.values(), strict=True))


@pytest.mark.parametrize("door", [_by_form, _by_api], ids=["pasted in the form", "API"])
def test_a_pasted_name_fills_first_and_last_name_placeholders_by_the_same_rule(app, client, run_worker, door):
    door(app, client, run_worker)
    texts = db.session.scalars(select(Recipient.rendered_content).order_by(Recipient.line)).all()
    assert texts == [f"Hi {first}, of the {last or 'nameless'} family" for first, last in NAMES.values()]
