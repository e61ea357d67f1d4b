from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.forms import no_nul
from app.hooks.models import MAX_DESCRIPTION, MAX_URL, Event


class NewEndpointForm(FlaskForm):
    url = StringField(
        "URL",
        filters=[no_nul],
        validators=[DataRequired(message="Give the URL events are POSTed to."), Length(max=MAX_URL)],
        description="Where each event is POSTed, such as https://crm.example.com/hooks/dispatcher.",
    )
    description = StringField(
        "Description",
        filters=[no_nul],
        validators=[Length(max=MAX_DESCRIPTION)],
        description="Optional: what receives it, to tell endpoints apart.",
    )
    events = SelectMultipleField(
        "Events",
        choices=[SelectChoice(event.value, event.label) for event in Event],
        validators=[DataRequired(message="Choose at least one event to send.")],
        validate_choice=True,
    )
    submit = SubmitField("Add endpoint")
