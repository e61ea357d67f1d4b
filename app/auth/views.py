import time

import flask
from flask import Blueprint, current_app, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_limiter import RequestLimit
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from app.addresses import email_key
from app.auth.access import public, requires, safe_next
from app.auth.forms import SignInForm
from app.auth.models import Role, authenticate
from app.clock import utcnow
from app.extensions import csrf, db, limiter
from app.tokens import models as tokens

bp = Blueprint("auth", __name__)

WRONG_CREDENTIALS = "That email and password do not match an active account."


def _failure_key() -> str:
    """Failures count per account and address together: one person mistyping
    does not lock out a colleague, and one address cannot guess one account fast."""
    return f"{get_remote_address()}|{email_key(request.form.get('email', ''))}"


def _too_many_failures(limit: RequestLimit) -> flask.Response:
    wait = max(int(limit.reset_at - time.time()) + 1, 1)
    form = SignInForm()
    message = f"Too many failed sign-ins for this account from your address. Wait {wait} seconds, then try again."
    # Flask-Limiter only uses a flask.Response, not a bare werkzeug one.
    return make_response(render_template("auth/sign_in.html", form=form, error=message), 429)


@bp.route("/sign-in", methods=["GET", "POST"])
@public
@csrf.exempt  # the form checks its own token, and shows itself again if refused
@limiter.limit(
    lambda: current_app.config["SIGN_IN_FAILURE_LIMIT"],
    key_func=_failure_key,
    methods=["POST"],
    # Only failures use up the allowance, so signing in successfully is never slowed.
    deduct_when=lambda response: g.get("sign_in_failed", False),
    on_breach=_too_many_failures,
)
def sign_in() -> str | Response:
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or url_for("campaigns.index"))
    form = SignInForm()
    error = None
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            g.sign_in_failed = True
            error = WRONG_CREDENTIALS
        else:
            # A fresh session, so nothing planted in the old one carries over.
            session.clear()
            login_user(user)
            session.permanent = True
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(safe_next(request.args.get("next")) or url_for("campaigns.index"))
    # Back to a form kept while signed out (app.kept): say so.
    keeping = "kept=" in (request.args.get("next") or "")
    return render_template("auth/sign_in.html", form=form, error=error, keeping=keeping)


@bp.post("/sign-out")
@requires(Role.VIEWER)
def sign_out() -> Response:
    """This browser only: the person stays signed in on their other devices."""
    logout_user()
    session.clear()
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
    flash("You are signed out on every device." + tokens.revoked_notice(revoked), "success")
    return redirect(url_for("auth.sign_in"))
