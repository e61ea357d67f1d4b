from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app import zones
from app.campaigns import audiences, drafts
from app.campaigns.parsing import ParseResult, parse_recipients, plural
from app.clock import utcnow
from app.contacts.book import imports_to_choose
from app.contacts.filters import Audience, Filters
from app.extensions import db
from app.formatting import when
from app.forms import known_placeholders, no_nul
from app.messaging import placeholders
from app.messaging.channels import Channel
from app.segments import library as segments
from app.segments.models import Segment

# The audience's filters as the form names its fields (``Filters.from_args``).
AUDIENCE_NAMES = {
    "q": "audience_q",
    "location": "audience_location",
    "preferred_product": "audience_product",
    "attribute": "audience_attribute",
    "opted_out": "audience_opted_out",
    "import": "audience_import",
}


def audience_filters(fields: Mapping[str, Any]) -> Filters:
    """The contacts the form's filters choose (its fields, or the request's
    as the live count sends them)."""
    return Filters.from_args(fields, AUDIENCE_NAMES)


def chosen_segment(fields: Mapping[str, Any]) -> Segment | None:
    typed = str(fields.get("audience_segment") or "")
    return db.session.get(Segment, int(typed)) if typed.isdigit() and len(typed) < 10 else None


def chosen_audience(fields: Mapping[str, Any], channel: str, kind: str | None = None) -> Audience | None:
    """The contacts the form sends to, on ``channel``: those its filters
    choose, or its segment's (``kind``, else the form's "Send to"); None for
    a pasted list, or no segment chosen."""
    kind = kind or fields.get("audience")
    if kind == "segment":
        segment = chosen_segment(fields)
        return Audience(channel, segment.contact_filters) if segment is not None else None
    if kind == "contacts":
        return Audience(channel, audience_filters(fields))
    return None


class CampaignForm(FlaskForm):
    title = StringField("Title", filters=[no_nul], validators=[DataRequired(), Length(max=200)])
    channel = SelectField(
        "Channel", choices=[SelectChoice(c.value, c.label) for c in Channel], default=Channel.SMS.value
    )
    subject = StringField(
        "Subject",
        filters=[no_nul],
        description="Email only. Placeholders work here too; left empty, the title is the subject.",
        validators=[Length(max=300), known_placeholders],
    )
    message = TextAreaField(
        "Message",
        filters=[no_nul],
        description=f"Placeholders are filled in for each recipient: {placeholders.every_one()}",
        validators=[DataRequired(), Length(max=4000), known_placeholders],
    )
    audience = RadioField(
        "Send to",
        choices=[
            SelectChoice("paste", "A pasted list"),
            SelectChoice("contacts", "Contacts"),
            SelectChoice("segment", "A segment"),
        ],
        default="paste",
    )
    audience_segment = SelectField(
        "Segment",
        description="Its contacts as they are when the campaign is created. Segments are saved from the contacts list.",
        validate_choice=False,
    )
    audience_location = StringField("Location", filters=[no_nul], description="Any, when left empty.")
    audience_product = StringField("Preferred product", filters=[no_nul], description="Any, when left empty.")
    audience_attribute = StringField(
        "Attribute",
        filters=[no_nul],
        description="key=value, such as plan=gold: the key in any case, the value exactly as stored (Gold is not "
        "gold); any, when left empty.",
    )
    audience_import = SelectField(
        "From an import",
        description="Only the contacts a finished import added or updated; any, when none is chosen.",
        validate_choice=False,
    )
    recipients = TextAreaField(
        "Recipients",
        description="One per line: Name, Email or Phone. A bare email or phone is fine too.",
    )
    skip_invalid = BooleanField("Create the campaign without the lines that have errors")
    send_at = DateTimeLocalField(
        "Send at",
        validators=[Optional()],
        description="Optional: it then starts by itself at that time. Empty: you start it yourself.",
    )
    submit = SubmitField("Create campaign")

    parsed: ParseResult | None = None

    def validate(self, extra_validators=None) -> bool:
        """Each field, then whether every recipient's message fits the channel."""
        if not super().validate(extra_validators) or self.parsed is None:
            return False
        why = drafts.too_long(
            self.channel.data,
            self.message.data,
            self.email_subject,
            self.parsed.recipients,
            sms_max_segments=current_app.config["SMS_MAX_SEGMENTS"],
            from_contacts=self.from_contacts,
        )
        if why:
            self.message.errors.append(why)
            return False
        return True

    def _choose_contacts(self, audience: Audience, limit: int) -> None:
        """The audience's contacts as recipients, in the order they were added."""
        try:
            self.parsed = ParseResult(recipients=audiences.recipients(audience, limit))
        except ValueError as error:
            raise ValidationError(str(error)) from None

    @property
    def email_subject(self) -> str | None:
        """The subject typed for an email, else None (an email then goes with its title)."""
        if self.channel.data != Channel.EMAIL:
            return None
        return (self.subject.data or "").strip() or None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.audience_segment.choices = [SelectChoice("", "Choose one")] + [
            SelectChoice(str(segment.id), segment.name) for segment in segments.everyone()
        ]
        self.audience_import.choices = [SelectChoice("", "Any")] + [
            SelectChoice(str(i.id), f"#{i.id} {i.file_name} ({i.finished_at:%Y-%m-%d})") for i in imports_to_choose()
        ]

    @property
    def from_contacts(self) -> bool:
        return self.audience.data in ("contacts", "segment")

    @property
    def contact_audience(self) -> Audience | None:
        return chosen_audience(self.data, self.channel.data)

    @property
    def sent_to(self) -> dict[str, Any] | None:
        """What the campaign keeps of who it was sent to (``Campaign.audience``)."""
        audience = self.contact_audience
        if audience is None:
            return None
        kept = {"filters": audience.filters.args(), "said": audience.filters.said()}
        segment = chosen_segment(self.data) if self.audience.data == "segment" else None
        return kept | ({"segment_id": segment.id, "segment": segment.name} if segment is not None else {})

    def _filter_problem(self, which: str) -> None:
        if self.audience.data == "contacts" and (problem := audience_filters(self.data).problem(which)):
            raise ValidationError(problem)

    def validate_audience_attribute(self, field: StringField) -> None:
        self._filter_problem("attribute")

    def validate_audience_import(self, field: SelectField) -> None:
        self._filter_problem("import")

    def validate_audience_segment(self, field: SelectField) -> None:
        if self.audience.data != "segment":
            return
        segment = chosen_segment(self.data)
        if segment is None:
            raise ValidationError("Choose a segment, or send to contacts chosen by filters.")
        if problems := segment.contact_filters.problems:
            raise ValidationError(
                f"A filter of the segment “{segment.name}” is no longer understood: {' '.join(problems)} "
                "Save the segment again from the contacts list."
            )

    def validate_send_at(self, field: DateTimeLocalField) -> None:
        must_be_to_come(self, field)

    @property
    def send_at_utc(self) -> datetime | None:
        """The time typed, in the signed-in person's zone, as UTC; None when left empty."""
        return zones.to_utc(self.send_at.data, zones.viewer()) if self.send_at.data else None

    def validate_recipients(self, field: TextAreaField) -> None:
        if self.channel.data not in {c.value for c in Channel}:
            return
        limit = current_app.config["RECIPIENT_LINE_LIMIT"]
        if self.from_contacts:
            # A filter not understood, or no segment, has its own error; counting
            # without it would contradict it.
            audience = self.contact_audience
            if audience is not None and not audience.filters.ignored:
                self._choose_contacts(audience, limit)
            return
        if not (field.data or "").strip():
            raise ValidationError("Paste at least one recipient, one per line, or send to contacts.")
        self.parsed = parse_recipients(
            field.data,
            Channel(self.channel.data),
            current_app.config["DEFAULT_REGION"],
            limit,
            line_max=current_app.config["RECIPIENT_LINE_MAX_CHARS"],
        )
        if self.parsed.over_limit is not None:
            raise ValidationError(
                f"This paste has {self.parsed.over_limit:,} recipient lines; "
                f"a campaign takes at most {limit:,}. Split it into several campaigns."
            )
        if not self.parsed.recipients:
            raise ValidationError("None of the lines is a valid recipient; see the errors below.")
        if self.parsed.errors and not self.skip_invalid.data:
            raise ValidationError(
                f"{plural(len(self.parsed.errors), 'line')} could not be understood; see below. "
                "Fix them, or tick the box to create the campaign with the "
                f"{plural(len(self.parsed.recipients), 'valid recipient')}."
            )


def must_be_to_come(form: FlaskForm, field: DateTimeLocalField) -> None:
    """A time typed in the signed-in person's zone is still to come."""
    if field.data is None:
        return
    at = zones.to_utc(field.data, zones.viewer())
    if at <= utcnow():
        raise ValidationError(f"{when(at, zones.viewer())} is in the past. Choose a time still to come.")


class ScheduleForm(FlaskForm):
    """A campaign page's Schedule (or Reschedule): when it starts by itself."""

    send_at = DateTimeLocalField(
        "Send at", validators=[DataRequired(message="Choose a date and time to send it."), must_be_to_come]
    )

    @property
    def send_at_utc(self) -> datetime:
        return zones.to_utc(self.send_at.data, zones.viewer())
