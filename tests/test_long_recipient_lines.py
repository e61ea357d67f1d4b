"""A pasted line a megabyte long, through each door that reads a paste: the
New campaign form, its live preview, and the API's recipients endpoint.

Each answers at once with the line's error (the preview says it and
previews the others), reads the other lines, and writes nothing. The parser these replace
took minutes on such a line, its patterns backtracking over the run of
spaces in time growing with the square of its length; the tests' bound only
tells that hang from an answer, which takes well under a second.
"""

import html
import re

import pytest
from sqlalchemy import func, select

from app.campaigns.models import Campaign, Recipient
from app.extensions import db
from tests.api import api_client, assert_problem

# A name, a million spaces, and the start of a Name <email>: the worst case
# for the old patterns, "(.*?)\s*<" and "\s*,\s*".
LONG_LINE = "Ann" + " " * (1_000_000 - 5) + "<>"
SAID = f'"Ann{" " * 76}…" (1,000,000 characters) is too long for one recipient line; at most 1,000 characters fit'


@pytest.mark.timeout(10)
def test_the_form_says_which_line_is_too_long_and_keeps_the_paste(client):
    paste = f"Ann, ann@example.com\n{LONG_LINE}\nBo, bo@example.com"
    response = client.post(
        "/campaigns/new", data={"title": "Sale", "channel": "email", "message": "Hello!", "recipients": paste}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Line 2: {SAID}".replace('"', "&#34;") in page
    assert "2 valid recipients, 1 line with errors" in page
    textarea = re.search(r"<textarea[^>]*name=\"recipients\"[^>]*>(.*?)</textarea>", page, re.S).group(1)
    assert html.unescape(textarea) == "\r\n" + paste
    assert db.session.scalar(select(Campaign.id)) is None


@pytest.mark.timeout(10)
def test_the_preview_says_which_line_is_too_long_and_shows_the_others(client):
    paste = f"Ann, ann@example.com\n{LONG_LINE}\nBo, bo@example.com"
    response = client.post(
        "/campaigns/preview", data={"channel": "email", "message": "Hi {first_name}!", "recipients": paste}
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Hi Ann!" in page and "Hi Bo!" in page
    assert "For 2 recipients" in page
    assert "1 line will not be read:" in page and f"Line 2: {SAID}".replace('"', "&#34;") in page
    assert len(page) < 10_000  # the line is not sent back


@pytest.mark.timeout(10)
def test_the_api_names_the_long_line_and_adds_nothing(app):
    api = api_client(app)
    draft = api.post("/api/v1/campaigns", json={"name": "Pasted", "channel": "sms", "base_template": "Hi"})
    campaign_id = draft.get_json()["id"]
    path = f"/api/v1/campaigns/{campaign_id}/recipients"
    body = assert_problem(api.post(path, json={"text": f"Ann, 0712 111111\n{LONG_LINE}"}), 400, "invalid-request")
    assert body["errors"] == [{"line": 2, "message": SAID}]
    assert db.session.scalar(select(func.count(Recipient.id))) == 0
    only_long = assert_problem(api.post(path, json={"text": LONG_LINE, "skip_invalid": True}), 400)
    assert only_long["errors"] == [{"line": 1, "message": SAID}]
    assert db.session.scalar(select(func.count(Recipient.id))) == 0
    # Skipping it adds the others.
    added = api.post(path, json={"text": f"Ann, 0712 111111\n{LONG_LINE}", "skip_invalid": True}).get_json()
    assert (added["added"], added["skipped_lines"]) == (1, [{"line": 2, "message": SAID}])
