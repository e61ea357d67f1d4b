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
from app.formatting import when
from app.forms import known_placeholders, no_nul
from app.messaging.channels import Channel

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
        description="Placeholders are filled in for each recipient: {first_name}, {first_name|there} "
        "(with a fallback for an empty value), {last_name}, {phone}, {email}.",
        validators=[DataRequired(), Length(max=4000), known_placeholders],
    )
    audience = RadioField(
        "Send to",
        choices=[SelectChoice("paste", "A pasted list"), SelectChoice("contacts", "Contacts")],
        default="paste",
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
            from_contacts=self.audience.data == "contacts",
        )
        if why:
            self.message.errors.append(why)
            return False
        return True

    def _choose_contacts(self, limit: int) -> None:
        """The audience's contacts as recipients, in the order they were added."""
        try:
            self.parsed = ParseResult(recipients=audiences.recipients(self.contact_audience, limit))
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
        self.audience_import.choices = [SelectChoice("", "Any")] + [
            SelectChoice(str(i.id), f"#{i.id} {i.file_name} ({i.finished_at:%Y-%m-%d})") for i in imports_to_choose()
        ]

    @property
    def contact_audience(self) -> Audience:
        return Audience(self.channel.data, audience_filters(self.data))

    def validate_audience_attribute(self, field: StringField) -> None:
        if self.audience.data == "contacts" and (problem := self.contact_audience.filters.problem("attribute")):
            raise ValidationError(problem)

    def validate_audience_import(self, field: SelectField) -> None:
        if self.audience.data == "contacts" and (problem := self.contact_audience.filters.problem("import")):
            raise ValidationError(problem)

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
        if self.audience.data == "contacts":
            # A filter not understood has its own error; counting without it would contradict it.
            if not self.contact_audience.filters.ignored:
                self._choose_contacts(limit)
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
