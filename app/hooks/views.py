"""The Webhooks pages (admins): endpoints, their secrets once, their delivery logs."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app import audit, htmx
from app.audit import Action
from app.auth.access import requires
from app.auth.models import Role
from app.extensions import csrf, db
from app.hooks import delivery, endpoints, outbox, sending
from app.hooks.forms import NewEndpointForm
from app.hooks.models import WebhookEndpoint

bp = Blueprint("hooks", __name__)


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    return db.get_or_404(
        WebhookEndpoint, endpoint_id, description="There is no such webhook endpoint: it may have been deleted."
    )


@bp.get("/webhooks")
@requires(Role.ADMIN)
def index() -> str:
    return render_template(
        "hooks/index.html", endpoints=endpoints.every(), changes=audit.changes_of("webhook", limit=20)
    )


@bp.route("/webhooks/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def new() -> str | Response:
    form = NewEndpointForm()
    if not form.validate_on_submit():
        return _no_store(render_template("hooks/new.html", form=form), 400 if form.errors else 200)
    try:
        endpoint = endpoints.register(form.url.data, form.description.data or "", form.events.data, actor=current_user)
    except sending.Refused as refused:
        db.session.rollback()
        form.url.errors = [str(refused)]
        return _no_store(render_template("hooks/new.html", form=form), 400)
    audit.record(Action.WEBHOOK_CREATED, actor=current_user, detail=endpoint.url)
    db.session.commit()
    # The secret is on this answer only: never in a redirect, a flash message or the session.
    return _no_store(render_template("hooks/created.html", endpoint=endpoint))


def _no_store(page: str, status: int = 200) -> Response:
    response = Response(page, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/webhooks/<int:endpoint_id>")
@requires(Role.ADMIN)
def show(endpoint_id: int) -> str:
    """The endpoint and its delivery log; the log alone when htmx asks for it (Refresh)."""
    endpoint = _endpoint_or_404(endpoint_id)
    log = endpoints.log_of(endpoint.id)
    if htmx.targets("delivery-log"):
        return render_template("hooks/_log.html", endpoint=endpoint, log=log)
    return render_template("hooks/show.html", endpoint=endpoint, log=log)


@bp.post("/webhooks/<int:endpoint_id>/pause")
@requires(Role.ADMIN)
def pause(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    if endpoints.set_active(endpoint, False):
        audit.record(Action.WEBHOOK_PAUSED, actor=current_user, detail=endpoint.url)
        db.session.commit()
        flash(f"Paused: no new events go to {endpoint.url}. Those already waiting still go.", "success")
    return redirect(url_for("hooks.show", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/resume")
@requires(Role.ADMIN)
def resume(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    if endpoints.set_active(endpoint, True):
        audit.record(Action.WEBHOOK_RESUMED, actor=current_user, detail=endpoint.url)
        db.session.commit()
        flash(f"Resumed: new events go to {endpoint.url} again.", "success")
    return redirect(url_for("hooks.show", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/delete")
@requires(Role.ADMIN)
def delete(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    url = endpoint.url
    endpoints.delete(endpoint)
    audit.record(Action.WEBHOOK_DELETED, actor=current_user, detail=url)
    db.session.commit()
    flash(f"Deleted the endpoint {url}, with its delivery log. Nothing more is sent to it.", "success")
    return redirect(url_for("hooks.index"))


@bp.post("/webhooks/<int:endpoint_id>/test")
@requires(Role.ADMIN)
def send_test(endpoint_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    outbox.add_test(endpoint, actor=current_user.email)
    db.session.commit()
    flash("Test event queued: it shows in the log below once sent, by itself.", "success")
    return redirect(url_for("hooks.show", endpoint_id=endpoint.id))


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@requires(Role.ADMIN)
def resend(endpoint_id: int, delivery_id: int) -> Response:
    endpoint = _endpoint_or_404(endpoint_id)
    found = endpoints.delivery_of(endpoint.id, delivery_id)
    if found is None:
        flash("There is no such delivery: its endpoint's log may have been deleted.", "warning")
    else:
        delivery.resend(found)
        db.session.commit()
        delivery.show_changed(endpoint.id)
        flash(f"Sending {found.event} again, with the same webhook-id ({found.message_id}).", "success")
    return redirect(url_for("hooks.show", endpoint_id=endpoint.id))
