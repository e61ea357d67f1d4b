from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.campaigns.forms import no_nul
from app.tokens.models import MAX_NAME


class NewTokenForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[no_nul],
        validators=[DataRequired(message="Name the token, to tell it apart later."), Length(max=MAX_NAME)],
        description="What uses it, such as “CRM sync”. Names need not be unique.",
    )
    submit = SubmitField("Create token")
