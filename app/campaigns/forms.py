from datetime import datetime

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app import zones
from app.campaigns import audiences, drafts
from app.campaigns.parsing import ParseResult, parse_recipients, plural
from app.clock import utcnow
from app.contacts.book import Audience, imports_to_choose
from app.formatting import when
from app.forms import known_placeholders, no_nul
from app.messaging import placeholders
from app.messaging.channels import Channel


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
        choices=[SelectChoice("paste", "A pasted list"), SelectChoice("contacts", "Contacts")],
        default="paste",
    )
    audience_location = StringField("Location", filters=[no_nul], description="Any, when left empty.")
    audience_product = StringField("Preferred product", filters=[no_nul], description="Any, when left empty.")
    audience_attribute = StringField(
        "Attribute", filters=[no_nul], description="key=value, such as plan=gold; any, when left empty."
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
        return Audience(
            self.channel.data,
            (self.audience_location.data or "").strip(),
            (self.audience_product.data or "").strip(),
            (self.audience_attribute.data or "").strip(),
            import_id=int(self.audience_import.data) if (self.audience_import.data or "").isdigit() else None,
        )

    def validate_audience_attribute(self, field: StringField) -> None:
        if self.audience.data == "contacts" and (field.data or "").strip() and "=" not in field.data:
            raise ValidationError("Write it as key=value, such as plan=gold.")

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
