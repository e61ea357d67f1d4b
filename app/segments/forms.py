from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from app.forms import no_nul


class SegmentForm(FlaskForm):
    name = StringField(
        "Name",
        filters=[no_nul],
        validators=[DataRequired("Give the segment a name, such as “Gold customers in Nairobi”."), Length(max=200)],
    )
    submit = SubmitField("Save segment")
