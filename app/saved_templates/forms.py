from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.forms import known_placeholders, no_nul
from app.messaging import placeholders
from app.messaging.channels import Channel


class SavedTemplateForm(FlaskForm):
    name = StringField("Name", filters=[no_nul], validators=[DataRequired(), Length(max=200)])
    channel = SelectField(
        "Channel", choices=[SelectChoice(c.value, c.label) for c in Channel], default=Channel.SMS.value
    )
    subject = StringField(
        "Subject", filters=[no_nul], description="Email only.", validators=[Length(max=300), known_placeholders]
    )
    message = TextAreaField(
        "Message",
        filters=[no_nul],
        description=f"Placeholders as in a campaign: {placeholders.every_one()}",
        validators=[DataRequired(), Length(max=4000), known_placeholders],
    )
    submit = SubmitField("Save template")

    @property
    def email_subject(self) -> str | None:
        return ((self.subject.data or "").strip() or None) if self.channel.data == Channel.EMAIL else None
