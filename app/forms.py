"""Filters and validators that the forms of several features share."""

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import ValidationError

from app.messaging import placeholders


def no_nul(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; a stray one from a copied document is dropped."""
    return value.replace("\x00", "") if value else value


def known_placeholders(form: FlaskForm, field: StringField | TextAreaField) -> None:
    """A template's placeholders are all ones a recipient can fill."""
    if unknown := placeholders.unknown(field.data or ""):
        raise ValidationError(placeholders.unknown_message(unknown))
