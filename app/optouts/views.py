"""The opt-out list: read by everyone, changed by operators and admins."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app import audit
from app.auth.access import requires
from app.auth.models import Role
from app.contacts import book
from app.extensions import csrf, db
from app.messaging.channels import Channel
from app.optouts import registry
from app.optouts.forms import OptOutForm
from app.optouts.models import OptOut, Source
from app.paging import paginate

bp = Blueprint("optouts", __name__)


@bp.get("/opt-outs")
@requires(Role.VIEWER)
def index() -> str:
    return _page(OptOutForm(formdata=None))


def _page(form: OptOutForm) -> str:
    filters = registry.Filters.from_args(request.args)
    return render_template(
        "optouts/index.html",
        page=paginate(filters.query(), current_app.config["CAMPAIGNS_PER_PAGE"]),
        filters=filters,
        channels=list(Channel),
        form=form,
        changes=audit.changes_of("opt_out", limit=20),
    )


@bp.post("/opt-outs")
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def add() -> str | Response:
    form = OptOutForm()
    if not form.validate_on_submit():
        return _page(form)
    label = f"{form.normalized} ({Channel(form.channel.data).label})"
    if registry.add(
        form.channel.data,
        form.normalized,
        Source.STAFF,
        actor=current_user,
        note=(form.note.data or "").strip(),
        contact_id=book.id_by_address(form.channel.data, form.normalized),
    ):
        db.session.commit()
        flash(f"{label} is opted out: nothing more is sent to it on that channel.", "success")
    else:
        flash(f"{label} was already opted out.", "info")
    return redirect(url_for("optouts.index"))


@bp.post("/opt-outs/<int:opt_out_id>/remove")
@requires(Role.OPERATOR)
def remove(opt_out_id: int) -> Response:
    opt_out = db.session.get(OptOut, opt_out_id)
    if opt_out is None:
        flash("That opt-out was already removed.", "info")
        return redirect(url_for("optouts.index"))
    channel, address = opt_out.channel, opt_out.address
    registry.remove(channel, address, actor=current_user, contact_id=book.id_by_address(channel, address))
    db.session.commit()
    flash(f"{address} is opted back in to {Channel(channel).label} messages.", "success")
    return redirect(url_for("optouts.index"))
