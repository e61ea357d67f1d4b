"""How long a message is on its channel: SMS encoding and segments against
known cases, the limits refused when a campaign is saved (never cut), the
segments a campaign keeps, and the form's live preview."""

import pytest
from sqlalchemy import select

from app.campaigns.models import Campaign
from app.extensions import db
from app.messaging.length import measure


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # an extension character takes two septets: 160
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 2),  # 164 septets; the € is not split
        ("{Ü ö ä é ñ à §}", "GSM-7", 1),  # accents in the GSM alphabet, braces in its extension
        ("я" * 70, "UCS-2", 1),  # Cyrillic
        ("я" * 71, "UCS-2", 2),
        ("я" * 134, "UCS-2", 2),
        ("я" * 135, "UCS-2", 3),
        ("👋" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units: 70
        ("👋" * 36, "UCS-2", 2),
        ("a" * 66 + "👋", "UCS-2", 1),  # 68 units
        ("a" * 69 + "👋", "UCS-2", 2),  # 71 units; the emoji goes whole to the second
        ("", "GSM-7", 1),
    ],
)
def test_sms_encoding_and_segments(text, encoding, segments):
    length = measure(text, "sms")
    assert (length.encoding, length.segments, length.characters) == (encoding, segments, len(text))


def test_other_channels_count_characters_only():
    assert measure("👋 hi", "whatsapp").characters == 4 and measure("x", "email").encoding is None


def form(channel, message, recipients, **extra):
    return {"title": "Long", "channel": channel, "message": message, "recipients": recipients, **extra}


def test_a_whatsapp_message_over_4096_characters_is_refused_not_cut(client):
    # The template fits; with the second recipient's name the message does not.
    template = "x" * 3_980 + " {first_name}"
    response = client.post(
        "/campaigns/new", data=form("whatsapp", template, f"Bo, +12025550143\n{'A' * 150}, +12025550144")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and db.session.scalar(select(Campaign.id)) is None
    assert (
        "Too long for 1 recipient (line 2: 4,131 characters; WhatsApp takes at most 4,096). "
        "Shorten the message; nothing is cut off."
    ) in page


def test_an_sms_over_the_segment_limit_is_refused_naming_the_lines(client, config):
    config(SMS_MAX_SEGMENTS=2)
    response = client.post("/campaigns/new", data=form("sms", "x" * 307, "Ada, +12025550143\nBo, +12025550144"))
    page = response.get_data(as_text=True)
    assert db.session.scalar(select(Campaign.id)) is None
    assert (
        "The message is too long: 3 SMS segments; at most 2 are sent as one message. Shorten it; nothing is cut off."
    ) in page
    assert "x" * 307 + "</textarea>" in page
    # Personal: the lines whose text is too long are named.
    response = client.post(
        "/campaigns/new",
        data=form("sms", "x" * 305 + "{first_name}", "Ada, +12025550143\n+12025550144\nBo, +12025550145"),
    )
    assert (
        "Too long for 2 recipients (line 1: 3 SMS segments; at most 2 are sent as one message; "
        "line 3: 3 SMS segments; at most 2 are sent as one message)."
    ) in response.get_data(as_text=True)


def test_an_sms_campaign_keeps_its_segments_in_all(client):
    # "Hi Ada!" is one segment; the second name brings a UCS-2 character and 71 units.
    recipients = "Ada, +12025550143\n" + "Я" + "b" * 66 + ", +12025550144"
    assert client.post("/campaigns/new", data=form("sms", "Hi {first_name}!", recipients)).status_code == 302
    assert db.session.scalar(select(Campaign.sms_segments)) == 1 + 2
    emails = "Ada, ada@example.com\nbo@example.com"
    assert client.post("/campaigns/new", data=form("email", "Hi {first_name}!", emails)).status_code == 302
    assert db.session.scalars(select(Campaign.sms_segments).order_by(Campaign.id)).all() == [3, None]


def test_the_preview_shows_the_first_recipients_and_the_range(client):
    paste = "Ada Lovelace, +12025550143\n+12025550144\nЯков, +12025550145\nDee, +12025550146"
    response = client.post(
        "/campaigns/preview",
        data={"channel": "sms", "message": "Hi {first_name}, {last_name|friend}!", "recipients": paste},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and page.count('data-testid="preview-message"') == 3
    assert "Hi Ada, Lovelace!" in page and "Hi Яков, friend!" in page
    # No name on line 2: {first_name} is empty with no fallback, and marked.
    assert (
        'Hi <mark class="empty-placeholder" title="No value for this recipient, and no fallback">'
        "{first_name}</mark>, friend!" in page
    )
    assert "For 4 recipients: 12–17 characters, 1 segment a message" in page
    assert "(GSM-7 and UCS-2), 4 segments in all." in page


def test_the_preview_says_when_it_read_only_the_first_lines(client):
    paste = "\n".join(f"+1202555{n:04d}" for n in range(1_001))
    page = client.post("/campaigns/preview", data={"channel": "sms", "message": "Hello", "recipients": paste}).get_data(
        as_text=True
    )
    assert "Over the first 1,000 recipients: 5 characters, 1 segment a message" in page


def test_the_preview_waits_for_known_placeholders_and_needs_an_operator(client, anonymous):
    page = client.post(
        "/campaigns/preview", data={"channel": "sms", "message": "Hi {nick}", "recipients": "+12025550143"}
    )
    assert "The preview waits for known placeholders" in page.get_data(as_text=True)
    assert anonymous.post("/campaigns/preview", data={"message": "x"}).status_code in (302, 401)
