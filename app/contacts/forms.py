import re

from flask import current_app
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import Length, ValidationError

from app.forms import no_nul
from app.messaging.addresses import InvalidAddress, local_dialling, normalize_email, normalize_phone

ATTRIBUTE_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*:\s*(.*?)\s*$")


def parse_attributes(text: str) -> tuple[dict[str, str], list[str]]:
    """``plan: gold`` lines → ``{"plan": "gold"}``, keys lower-cased; and the
    lines that are not ``key: value``, as messages."""
    attributes, errors = {}, []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        found = ATTRIBUTE_LINE.match(line)
        if found is None:
            errors.append(f"Line {number}: write it as key: value, the key in letters, digits and _.")
        else:
            attributes[found.group(1).lower()] = found.group(2)
    return attributes, errors


class AttributesField(TextAreaField):
    """A contact's attributes as ``key: value`` lines: a dict (the contact's
    own, when the form is made from it) is shown as such lines."""

    def process_data(self, value: object) -> None:
        if isinstance(value, dict):
            value = "\n".join(f"{key}: {value[key]}" for key in sorted(value))
        super().process_data(value)


class ContactForm(FlaskForm):
    first_name = StringField("First name", filters=[no_nul], validators=[Length(max=100)])
    last_name = StringField("Last name", filters=[no_nul], validators=[Length(max=100)])
    phone = StringField("Phone", filters=[no_nul])
    email = StringField("Email", filters=[no_nul])
    location = StringField("Location", filters=[no_nul], validators=[Length(max=100)])
    preferred_product = StringField("Preferred product", filters=[no_nul], validators=[Length(max=100)])
    attributes = AttributesField(
        "Attributes", filters=[no_nul], description="One per line, key: value. A template reads {attributes.key}."
    )
    submit = SubmitField("Save contact")

    normalized_phone: str | None = None
    normalized_email: str | None = None
    parsed_attributes: dict[str, str] | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.phone.description = f"With +country, or {local_dialling(current_app.config['DEFAULT_REGION'])}."

    def validate_phone(self, field: StringField) -> None:
        if (field.data or "").strip():
            try:
                self.normalized_phone = normalize_phone(field.data.strip(), current_app.config["DEFAULT_REGION"])
            except InvalidAddress as error:
                raise ValidationError(str(error)) from None

    def validate_email(self, field: StringField) -> None:
        if (field.data or "").strip():
            try:
                self.normalized_email = normalize_email(field.data.strip())
            except InvalidAddress as error:
                raise ValidationError(str(error)) from None
        elif not (self.phone.data or "").strip():
            raise ValidationError("A contact needs a phone or an email.")

    def validate_attributes(self, field: TextAreaField) -> None:
        self.parsed_attributes, errors = parse_attributes(field.data)
        if errors:
            raise ValidationError(" ".join(errors))


class ImportUploadForm(FlaskForm):
    file = FileField(
        "CSV file",
        validators=[FileRequired("Choose a CSV file to import.")],
        description=(
            "UTF-8 (with or without a byte-order mark) or Latin-1; columns separated by commas, semicolons or tabs; "
            "a header row first."
        ),
    )
    submit = SubmitField("Upload and preview")
