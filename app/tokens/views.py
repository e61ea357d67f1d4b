"""The API tokens page (``/account/tokens``) and the API reference page."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app import audit
from app.api.shapes import json_response
from app.api.spec import document
from app.auth.access import requires
from app.auth.models import Role
from app.extensions import db
from app.tokens import models as tokens
from app.tokens.forms import NewTokenForm

bp = Blueprint("tokens", __name__)


def _page(form: NewTokenForm, issued: tokens.Issued | None = None, refused: str | None = None) -> Response:
    admin = current_user.role_enum.allows(Role.ADMIN)
    whose = None if admin else current_user.id
    page = render_template(
        "tokens/index.html",
        form=form,
        issued=issued,
        refused=refused,
        tokens=tokens.active_of(whose),
        ended=tokens.ended_of(whose),
        everyone=admin,
        history=audit.changes_of("token", limit=20) if admin else [],
    )
    response = Response(page, 400 if form.errors or refused else 200, mimetype="text/html")
    # The answer to a create holds the new secret: no cache, proxy or back
    # button may keep it. Every answer of the page is alike, for one rule.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/account/tokens")
@requires(Role.VIEWER)
def index() -> Response:
    return _page(NewTokenForm())


@bp.post("/account/tokens")
@requires(Role.VIEWER)
def create() -> Response:
    """The new token is shown on this answer only: never in a redirect, a
    flash message or the session, which would keep it."""
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _page(form)
    try:
        lifetime = tokens.parse_lifetime(form.expires_in.data)
        issued = tokens.create(current_user, form.name.data, actor=current_user, lifetime=lifetime)
    except tokens.TokenRefused as refused:
        db.session.rollback()
        return _page(form, refused=str(refused))
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


@bp.get("/account/api-reference/openapi.json")
@requires(Role.VIEWER)
def reference_document() -> Response:
    """The document the reference page shows, for a signed-in person:
    ``/api/v1/openapi.json`` takes a token, never the session cookie."""
    return json_response(document())
