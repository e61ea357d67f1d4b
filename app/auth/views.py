import flask
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from app import kept
from app.auth import throttling
from app.auth.access import public, requires, safe_next
from app.auth.forms import SignInForm
from app.auth.models import Role, authenticate
from app.auth.sessions import SIGNED_OUT
from app.clock import utcnow
from app.extensions import csrf, db, limiter
from app.tokens import models as tokens

bp = Blueprint("auth", __name__)

WRONG_CREDENTIALS = "That email and password do not match an active account."


def _failed(response: flask.Response) -> bool:
    # Only failures use up an allowance, so signing in successfully is never slowed.
    return g.get("sign_in_failed", False)


@bp.route("/sign-in", methods=["GET", "POST"])
@public
@csrf.exempt  # the form checks its own token, and shows itself again if refused
@limiter.limit(
    lambda: current_app.config["SIGN_IN_FAILURE_LIMIT"],
    key_func=throttling.address_and_account,
    methods=["POST"],
    deduct_when=_failed,
    on_breach=throttling.too_many_from_address,
)
@limiter.limit(
    lambda: current_app.config["SIGN_IN_ACCOUNT_FAILURE_LIMIT"],
    key_func=throttling.account,
    methods=["POST"],
    deduct_when=_failed,
    exempt_when=throttling.known_device,
    on_breach=throttling.too_many_for_account,
)
def sign_in() -> str | Response:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("dashboard.index"))
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            g.sign_in_failed = True
            error = WRONG_CREDENTIALS
        else:
            # A fresh session, so nothing planted in the old one carries over;
            # only the forms this browser kept, to come back after it.
            carried = kept.carried_across_sign_in()
            session.clear()
            session.update(carried)
            login_user(user)
            session.permanent = True
            user.last_login_at = utcnow()
            db.session.commit()
            response = redirect(safe_next(request.args.get("next")) or url_for("dashboard.index"))
            throttling.remember_device(response, user)
            return response
    # Back to a form this browser kept while signed out (app.kept): say so.
    keeping = kept.held_here(request.args.get("next"))
    return render_template("auth/sign_in.html", form=form, error=error, keeping=keeping)


@bp.post("/sign-out")
@requires(Role.VIEWER)
def sign_out() -> Response:
    """This browser only: the person stays signed in on their other devices."""
    logout_user()
    session.clear()
    session[SIGNED_OUT] = True  # a form sent from another tab now is kept (app.kept)
    flash("You are signed out in this browser.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.post("/sign-out-everywhere")
@requires(Role.VIEWER)
def sign_out_everywhere() -> Response:
    """Every session the person has, on every device: a signed cookie stays valid
    until it expires, so a copy taken before (another device, a shared machine)
    ends here too. So do their API tokens: one made with a stolen session would
    otherwise outlive it."""
    user = current_user._get_current_object()
    user.end_sessions()
    revoked = tokens.revoke_all_for(user, tokens.RevokeReason.SIGNED_OUT_EVERYWHERE, actor=user)
    db.session.commit()
    logout_user()
    session.clear()
    session[SIGNED_OUT] = True  # a form sent from another tab now is kept (app.kept)
    flash("You are signed out on every device." + tokens.revoked_notice(revoked), "success")
    return redirect(url_for("auth.sign_in"))
