from flask import current_app
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField, SubmitField, ValidationError
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length

from app import zones
from app.auth.forms import new_password_field
from app.auth.models import Role
from app.forms import no_nul
from app.messaging.addresses import EMAIL_TYPED_MAX, InvalidAddress, normalize_email, normalize_phone
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


class TestAddressesForm(FlaskForm):
    """Where "Send a test to me" sends: one's own phone (SMS, WhatsApp) and
    email; either may be left empty. Saved in the form every address is kept in."""

    __test__ = False  # a form, not a test class

    test_phone = StringField(
        "Your test phone number",
        description="SMS and WhatsApp tests go here: with its country code (+254 712 345678), or as dialled here.",
        filters=[no_nul],
        validators=[Length(max=64, message="A phone number is at most 64 characters.")],
        render_kw={"type": "tel", "autocomplete": "tel"},
    )
    test_email = StringField(
        "Your test email address",
        description="Email tests go here.",
        filters=[no_nul],
        validators=[Length(max=EMAIL_TYPED_MAX, message=f"An email address is at most {EMAIL_TYPED_MAX} characters.")],
        render_kw={"type": "email", "autocomplete": "email"},
    )
    submit = SubmitField("Save test addresses")

    def validate_test_phone(self, field: StringField) -> None:
        self.phone = None
        if typed := (field.data or "").strip():
            try:
                self.phone = normalize_phone(typed, current_app.config["DEFAULT_REGION"])
            except InvalidAddress as invalid:
                raise ValidationError(f"{invalid}: type it with its country code, like +254 712 345678.") from None

    def validate_test_email(self, field: StringField) -> None:
        self.email = None
        if typed := (field.data or "").strip():
            try:
                self.email = normalize_email(typed)
            except InvalidAddress as invalid:
                raise ValidationError(f"{invalid}. {invalid.reason}".strip()) from None
