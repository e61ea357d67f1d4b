from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app import zones
from app.auth.forms import new_password_field
from app.auth.models import Role
from app.users import staff

ROLE_CHOICES = [SelectChoice(role.value, f"{role.value.title()}: {role.description}") for role in Role]


class NewUserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter their email address."), Length(max=320)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.VIEWER.value)
    password = new_password_field(
        "First password", "Choose a first password for them.", "Hand it over in person or by another channel."
    )
    submit = SubmitField("Create account")

    def validate_email(self, field: EmailField) -> None:
        """The rules staff.add keeps, checked with the other fields, so that
        every field's error shows at once; staff.add checks them again."""
        try:
            staff.check_new_email(field.data or "")
        except staff.StaffChangeRefused as refused:
            raise ValidationError(str(refused)) from None


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(role.value, role.value.title()) for role in Role])
    submit = SubmitField("Save role")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(message="Enter your current password.")]
    )
    new_password = new_password_field("New password", "Choose a new password.")
    confirm = PasswordField(
        "New password again",
        validators=[EqualTo("new_password", message="The two new passwords are not the same.")],
    )
    submit = SubmitField("Change password")


class TimeZoneForm(FlaskForm):
    timezone = SelectField(
        "Time zone",
        description="Times on every page are shown in it, and the times you type are read in it.",
        validators=[DataRequired(message="Choose a time zone.")],
    )
    submit = SubmitField("Save time zone")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = [SelectChoice(name, name.replace("_", " ")) for name in zones.names()]
