"""The New campaign form's live preview: the message as the first recipients
of the paste will get it, with empty placeholders marked, and how long the
messages are on the channel (an SMS's encoding and segments)."""

from dataclasses import dataclass, field

from app.campaigns.drafts import values_for
from app.campaigns.parsing import LineError, parse_recipients
from app.contacts.book import values_of
from app.contacts.filters import Audience
from app.extensions import db
from app.messaging import length, placeholders
from app.messaging.channels import Channel

SAMPLES = 3
# The lines the form will refuse, said as the person types: the first few.
ERRORS_SHOWN = 3
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
    # Lines of the paste (among those read) that the form will refuse, and how many in all.
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0


def build(
    channel: str,
    message: str,
    subject: str,
    paste: str,
    *,
    region: str,
    line_max: int,
    sms_max_segments: int,
    audience: Audience | None = None,
) -> Preview:
    """The preview of a pasted list, or of the contacts ``audience`` chooses
    (its first PREVIEW_LINES, each rendered from what the contact book knows)."""
    channel = channel if channel in {c.value for c in Channel} else Channel.SMS.value
    unknown = placeholders.unknown(message) + placeholders.unknown(subject)
    is_email = channel == Channel.EMAIL
    errors: list[LineError] = []
    if audience is None:
        lines = paste.splitlines()
        cut, read = len(lines) > PREVIEW_LINES, min(len(lines), PREVIEW_LINES)
        parsed = parse_recipients(
            "\n".join(lines[:PREVIEW_LINES]), Channel(channel), region, PREVIEW_LINES, line_max=line_max
        )
        errors = parsed.errors
        known = values_for(channel, parsed.recipients)
        people = [(r.name or r.address_normalized, values) for r, values in zip(parsed.recipients, known, strict=True)]
    else:
        contacts = db.session.scalars(audience.query().limit(PREVIEW_LINES + 1)).all()
        cut, read = len(contacts) > PREVIEW_LINES, min(len(contacts), PREVIEW_LINES)
        people = [(contact.label, values_of(contact)) for contact in contacts[:PREVIEW_LINES]]
    if unknown or not message.strip():
        return Preview(channel, unknown, [], None, read, cut, errors[:ERRORS_SHOWN], len(errors))
    email_subject = (subject.strip() or None) if is_email else None
    samples = [
        Sample(
            to,
            placeholders.parts(email_subject, values) if email_subject else None,
            placeholders.parts(message, values),
            length.measure(placeholders.render(message, values), channel),
        )
        for to, values in people[:SAMPLES]
    ]
    report = length.Report(channel, sms_max_segments)
    for line, (_, values) in enumerate(people, start=1):
        report.add(length.measure(placeholders.render(message, values), channel), where=line)
    return Preview(channel, [], samples, report, read, cut, errors[:ERRORS_SHOWN], len(errors))
