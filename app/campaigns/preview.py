"""The New campaign form's live preview: the message as the first recipients
of the paste will get it, with empty placeholders marked, and how long the
messages are on the channel (an SMS's encoding and segments)."""

from dataclasses import dataclass

from app.campaigns import length, placeholders
from app.campaigns.drafts import Templates
from app.campaigns.models import Channel
from app.campaigns.parsing import parse_recipients

SAMPLES = 3
# The page sends the paste's first lines only: a preview of 100,000 lines on
# every keystroke would be slow, and the form checks every line when saved.
PREVIEW_LINES = 1_000


@dataclass(frozen=True)
class Sample:
    to: str
    subject: list[tuple[str, bool]] | None
    content: list[tuple[str, bool]]
    length: length.Length


@dataclass(frozen=True)
class Preview:
    channel: str
    unknown: list[str]
    samples: list[Sample]
    report: length.Report | None
    lines_read: int
    cut: bool


def build(channel: str, message: str, subject: str, paste: str, *, region: str, sms_max_segments: int) -> Preview:
    channel = channel if channel in {c.value for c in Channel} else Channel.SMS.value
    unknown = placeholders.unknown(message) + placeholders.unknown(subject)
    lines = paste.splitlines()
    cut = len(lines) > PREVIEW_LINES
    parsed = parse_recipients("\n".join(lines[:PREVIEW_LINES]), Channel(channel), region, PREVIEW_LINES)
    if unknown or not message.strip():
        return Preview(channel, unknown, [], None, min(len(lines), PREVIEW_LINES), cut)
    is_email = channel == Channel.EMAIL
    email_subject = (subject.strip() or None) if is_email else None
    samples = []
    for recipient in parsed.recipients[:SAMPLES]:
        values = placeholders.from_paste(recipient.name, recipient.address_normalized, is_email=is_email)
        content = placeholders.parts(message, values)
        samples.append(
            Sample(
                recipient.name or recipient.address_normalized,
                placeholders.parts(email_subject, values) if email_subject else None,
                content,
                length.measure(placeholders.render(message, values), channel),
            )
        )
    report = Templates(channel, message, email_subject).lengths(parsed.recipients, sms_max_segments)
    return Preview(channel, [], samples, report, min(len(lines), PREVIEW_LINES), cut)
