from flask import current_app
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from app.forms import no_nul
from app.messaging.addresses import local_dialling
from app.messaging.channels import Channel
from app.optouts import registry


class OptOutForm(FlaskForm):
    channel = SelectField("Channel", choices=[SelectChoice(c.value, c.label) for c in Channel])
    address = StringField(
        "Phone or email",
        filters=[no_nul],
        validators=[DataRequired("Type the phone number or email address to opt out."), Length(max=320)],
    )
    note = StringField("Why (optional)", filters=[no_nul], validators=[Length(max=500)])
    submit = SubmitField("Opt out")

    normalized: str = ""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        region = current_app.config["DEFAULT_REGION"]
        self.address.description = (
            f"A phone for SMS and WhatsApp, with +country or {local_dialling(region)}; an email for email."
        )

    def validate_address(self, field: StringField) -> None:
        try:
            self.normalized = registry.normalize(self.channel.data, field.data)
        except ValueError as error:
            raise ValidationError(f"{str(error)[0].upper()}{str(error)[1:]}.") from None
