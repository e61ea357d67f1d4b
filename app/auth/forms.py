from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from app.auth.models import MIN_PASSWORD


def new_password_field(label: str, missing: str, description: str = "") -> PasswordField:
    """A password being chosen: required, and as long as the rule in app.auth.models says."""
    return PasswordField(
        label,
        validators=[
            DataRequired(message=missing),
            Length(min=MIN_PASSWORD, message=f"A password needs at least {MIN_PASSWORD} characters."),
        ],
        description=f"At least {MIN_PASSWORD} characters.{' ' + description if description else ''}",
    )


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email address."), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")])
    submit = SubmitField("Sign in")
