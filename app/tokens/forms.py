from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.forms import no_nul
from app.tokens.models import MAX_NAME, NEVER

# Each value is a lifetime ``parse_lifetime`` reads, as the CLI's --expires-in.
LIFETIMES = [
    SelectChoice("30d", "30 days"),
    SelectChoice("90d", "90 days"),
    SelectChoice("365d", "1 year"),
    SelectChoice(NEVER, "Never"),
]


class NewTokenForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[no_nul],
        validators=[DataRequired(message="Name the token, to tell it apart later."), Length(max=MAX_NAME)],
        description="What uses it, such as “CRM sync”. Names need not be unique.",
    )
    # A token that ends by itself is one less to remember to revoke: 90 days unless chosen otherwise.
    expires_in = SelectField(
        "Expires after",
        choices=LIFETIMES,
        default="90d",
        validate_choice=True,
        description="After this it is refused, and you make a new one.",
    )
    submit = SubmitField("Create token")
