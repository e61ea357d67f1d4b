"""The Segments pages: saved sets of contact filters, each with its live count."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app import audit
from app.auth.access import background, requires
from app.auth.models import Role
from app.contacts.filters import Filters
from app.extensions import csrf, db
from app.segments import library
from app.segments.forms import SegmentForm
from app.segments.models import Segment

bp = Blueprint("segments", __name__)


def _segment_or_404(segment_id: int) -> Segment:
    return db.get_or_404(
        Segment, segment_id, description="There is no segment with that number: it may have been deleted."
    )


@bp.get("/segments")
@requires(Role.VIEWER)
def index() -> str:
    """Each segment with its filters in words; its count arrives by itself (``size``)."""
    return render_template(
        "segments/index.html", segments=library.everyone(), said=library.said, changes=audit.changes_of("segment")
    )


@bp.get("/segments/<int:segment_id>/size")
@requires(Role.VIEWER)
@background
def size(segment_id: int) -> str:
    """How many contacts the segment chooses now: each row of the list asks for its own."""
    segment = _segment_or_404(segment_id)
    return render_template("segments/_size.html", segment=segment, size=library.size(segment))


@bp.route("/segments/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def new() -> str | Response:
    """Save the filters the contacts list was showing (in the URL, then in the form) as a segment."""
    filters = Filters.from_args(request.form if request.method == "POST" else request.args)
    form = SegmentForm()
    if form.validate_on_submit():
        try:
            segment = library.save(None, form.name.data, filters, actor=current_user)
        except library.NameTaken as taken:
            form.name.errors.append(str(taken))
        else:
            db.session.commit()
            flash(f"Segment “{segment.name}” saved: {library.said(filters)}.", "success")
            return redirect(url_for("segments.index"))
    return render_template("segments/form.html", form=form, segment=None, filters=filters, said=library.said)


@bp.route("/segments/<int:segment_id>/edit", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def edit(segment_id: int) -> str | Response:
    """Rename a segment. Its filters are changed by saving new ones from the contacts list."""
    segment = _segment_or_404(segment_id)
    form = SegmentForm(obj=segment)
    if form.validate_on_submit():
        try:
            library.save(segment, form.name.data, actor=current_user)
        except library.NameTaken as taken:
            form.name.errors.append(str(taken))
        else:
            db.session.commit()
            flash(f"Segment renamed “{segment.name}”.", "success")
            return redirect(url_for("segments.index"))
    return render_template(
        "segments/form.html", form=form, segment=segment, filters=segment.contact_filters, said=library.said
    )


@bp.post("/segments/<int:segment_id>/delete")
@requires(Role.OPERATOR)
def delete(segment_id: int) -> Response:
    segment = _segment_or_404(segment_id)
    library.delete(segment, actor=current_user)
    db.session.commit()
    flash(f"Segment “{segment.name}” deleted. Campaigns sent to it keep their recipients.", "success")
    return redirect(url_for("segments.index"))
