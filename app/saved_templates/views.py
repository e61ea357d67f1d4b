from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app import audit
from app.auth.access import requires
from app.auth.models import Role
from app.extensions import csrf, db
from app.saved_templates import library
from app.saved_templates.forms import SavedTemplateForm
from app.saved_templates.models import SavedTemplate

bp = Blueprint("saved_templates", __name__)


def _template_or_404(template_id: int) -> SavedTemplate:
    return db.get_or_404(SavedTemplate, template_id, description="There is no template with that number.")


@bp.get("/templates")
@requires(Role.VIEWER)
def index() -> str:
    return render_template(
        "saved_templates/index.html", templates=library.by_channel(), changes=audit.changes_of("template")
    )


@bp.route("/templates/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def new() -> str | Response:
    return _edit(None)


@bp.route("/templates/<int:template_id>/edit", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def edit(template_id: int) -> str | Response:
    return _edit(_template_or_404(template_id))


def _edit(template: SavedTemplate | None) -> str | Response:
    form = SavedTemplateForm(obj=template)
    if form.validate_on_submit():
        try:
            saved = library.save(
                template, form.name.data, form.channel.data, form.email_subject, form.message.data, actor=current_user
            )
        except library.NameTaken as taken:
            form.name.errors.append(str(taken))
        else:
            db.session.commit()
            flash(f"Template “{saved.name}” saved.", "success")
            return redirect(url_for("saved_templates.index"))
    return render_template("saved_templates/form.html", form=form, template=template)


@bp.post("/templates/<int:template_id>/delete")
@requires(Role.OPERATOR)
def delete(template_id: int) -> Response:
    template = _template_or_404(template_id)
    library.delete(template, actor=current_user)
    db.session.commit()
    flash(f"Template “{template.name}” deleted. Campaigns made from it keep their message.", "success")
    return redirect(url_for("saved_templates.index"))
