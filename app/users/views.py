from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app import audit, zones
from app.auth.access import requires
from app.auth.models import Role, User
from app.clock import utcnow
from app.extensions import csrf, db
from app.formatting import when
from app.tokens import models as tokens
from app.users import staff
from app.users.forms import ChangePasswordForm, NewUserForm, RoleForm, TestAddressesForm, TimeZoneForm

bp = Blueprint("users", __name__)


def _user_or_404(user_id: int) -> User:
    return db.get_or_404(User, user_id, description="There is no staff account with that number.")


@bp.get("/staff")
@requires(Role.ADMIN)
def index() -> str:
    users = db.session.scalars(select(User).order_by(User.active.desc(), User.email)).all()
    return render_template("users/index.html", users=users, changes=audit.staff_changes(), roles=list(Role))


@bp.route("/staff/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def new() -> str | Response:
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = staff.add(form.email.data, Role(form.role.data), form.password.data, actor=current_user)
        except staff.StaffChangeRefused as refused:
            form.email.errors.append(str(refused))
        else:
            db.session.commit()
            flash(f"{user.email} can now sign in as {user.role}.", "success")
            return redirect(url_for("users.index"))
    return render_template("users/new.html", form=form)


@bp.post("/staff/<int:user_id>/role")
@requires(Role.ADMIN)
def change_role(user_id: int) -> Response:
    user = _user_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400, description="Choose one of the roles viewer, operator or admin.")
    return _apply(
        lambda: staff.change_role(user, Role(form.role.data), actor=current_user),
        f"{user.email} is now {form.role.data}.",
    )


@bp.post("/staff/<int:user_id>/deactivate")
@requires(Role.ADMIN)
def deactivate(user_id: int) -> Response:
    user = _user_or_404(user_id)
    return _apply(
        lambda: staff.deactivate(user, actor=current_user),
        f"{user.email} is deactivated and signed out everywhere. Their API tokens are revoked.",
    )


@bp.post("/staff/<int:user_id>/reactivate")
@requires(Role.ADMIN)
def reactivate(user_id: int) -> Response:
    user = _user_or_404(user_id)
    return _apply(lambda: staff.reactivate(user, actor=current_user), f"{user.email} can sign in again.")


def _apply(change, success: str) -> Response:
    try:
        change()
    except staff.StaffChangeRefused as refused:
        db.session.rollback()
        flash(str(refused), "warning")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(url_for("users.index"))


@bp.route("/account", methods=["GET", "POST"])
@requires(Role.VIEWER)
@csrf.exempt  # the form checks its own token, and shows itself again if refused
def account() -> str | Response:
    """One's own time zone (what times are shown and typed in), and test addresses."""
    user = current_user._get_current_object()
    form = TimeZoneForm(data={"timezone": zones.of(user).key})
    if form.validate_on_submit():
        staff.set_timezone(user, form.timezone.data)
        db.session.commit()
        flash(f"Times are now shown in {form.timezone.data}.", "success")
        return redirect(url_for("users.account"))
    return _account_page(user, form, _test_addresses_form(user))


@bp.post("/account/test-addresses")
@requires(Role.VIEWER)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def test_addresses() -> str | Response:
    """Where "Send a test to me" sends; refused, the page comes back with what was typed and why."""
    user = current_user._get_current_object()
    form = TestAddressesForm()
    if form.validate_on_submit():
        staff.set_test_addresses(user, form.phone, form.email)
        db.session.commit()
        saved = " and ".join(filter(None, (user.test_phone, user.test_email)))
        flash(f"Tests you send yourself now go to {saved}." if saved else "You have no test addresses now.", "success")
        return redirect(url_for("users.account"))
    return _account_page(user, TimeZoneForm(data={"timezone": zones.of(user).key}), form)


def _test_addresses_form(user: User) -> TestAddressesForm:
    return TestAddressesForm(formdata=None, data={"test_phone": user.test_phone, "test_email": user.test_email})


def _account_page(user: User, form: TimeZoneForm, test_form: TestAddressesForm) -> str:
    now_here = when(utcnow(), zones.of(user))
    return render_template("users/account.html", form=form, test_form=test_form, now_here=now_here)


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Role.VIEWER)
@csrf.exempt  # the form checks its own token, and shows itself again if refused
def change_password() -> str | Response:
    """Anyone's own password; the Staff page is where admins set others'."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current_password.data):
            form.current_password.errors.append("That is not your current password.")
        else:
            user = current_user._get_current_object()
            revoked = staff.set_password(user, form.new_password.data, actor=user)
            db.session.commit()
            # The new password ended every session, this one too; carry on signed in here.
            login_user(user)
            flash("Password changed. Your other sessions have ended." + tokens.revoked_notice(revoked), "success")
            return redirect(url_for("campaigns.index"))
    return render_template("users/change_password.html", form=form)
