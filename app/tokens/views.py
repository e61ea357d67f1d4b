"""The API tokens page (``/account/tokens``) and the API reference page."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app import audit
from app.auth.access import requires
from app.auth.models import Role
from app.extensions import db
from app.tokens import models as tokens
from app.tokens.forms import NewTokenForm

bp = Blueprint("tokens", __name__)


def _page(form: NewTokenForm, issued: tokens.Issued | None = None, status: int = 200) -> tuple[str, int]:
    admin = current_user.role_enum.allows(Role.ADMIN)
    return render_template(
        "tokens/index.html",
        form=form,
        issued=issued,
        tokens=tokens.active_of(None if admin else current_user.id),
        everyone=admin,
        history=audit.changes_of("token", limit=20) if admin else [],
    ), status


@bp.get("/account/tokens")
@requires(Role.VIEWER)
def index() -> tuple[str, int]:
    return _page(NewTokenForm())


@bp.post("/account/tokens")
@requires(Role.VIEWER)
def create() -> tuple[str, int]:
    """The new token is shown on this answer only: never in a redirect, a
    flash message or the session, which would keep it."""
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    issued = tokens.create(current_user, form.name.data, actor=current_user)
    db.session.commit()
    return _page(NewTokenForm(formdata=None), issued)


@bp.post("/account/tokens/<int:token_id>/revoke")
@requires(Role.VIEWER)
def revoke(token_id: int) -> Response:
    token = db.get_or_404(tokens.ApiToken, token_id, description="There is no such token: it may have been revoked.")
    if token.user_id != current_user.id and not current_user.role_enum.allows(Role.ADMIN):
        abort(403, description="Only an admin may revoke someone else's token.")
    if tokens.revoke([token], actor=current_user):
        db.session.commit()
        flash(
            f"Token “{token.name}” of {token.user.email} revoked. Programs using it are refused from now on.", "success"
        )
    return redirect(url_for("tokens.index"))


@bp.get("/account/api-reference")
@requires(Role.VIEWER)
def reference() -> str:
    return render_template("tokens/reference.html")
