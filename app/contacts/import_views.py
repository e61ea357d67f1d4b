"""The Imports pages: upload a CSV file, choose where its columns go with a
preview, confirm, and follow the import live."""

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from redis.exceptions import RedisError
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from app import jobqueue
from app.auth.access import background, requires
from app.auth.models import Role
from app.contacts import csvfile, importing, mapping
from app.contacts.forms import ImportUploadForm
from app.contacts.models import ContactImport, ImportStatus
from app.extensions import csrf, db
from app.formatting import plural, size
from app.htmx import targets
from app.live.channel import import_channel

bp = Blueprint("imports", __name__)
log = logging.getLogger(__name__)
# What a multipart upload adds to its file: the boundaries and the other fields.
FORM_OVERHEAD = 64 * 1024


def _import_or_404(import_id: int) -> ContactImport:
    return db.get_or_404(ContactImport, import_id, description="There is no import with that number.")


@bp.get("/contacts/imports")
@requires(Role.VIEWER)
def index() -> str:
    return render_template("contacts/imports.html", imports=importing.recent())


@bp.route("/contacts/imports/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
# The form checks its own token: the app's check would read the body before
# the limit below is raised, and refuse a file over the one for other requests.
@csrf.exempt
def new() -> str | Response | tuple[str, int]:
    # The file may be larger than the limit for other requests, up to the import's own.
    request.max_content_length = current_app.config["IMPORT_MAX_BYTES"] + FORM_OVERHEAD
    try:
        form = ImportUploadForm()
        valid = form.validate_on_submit()
    except RequestEntityTooLarge:
        form = ImportUploadForm(formdata=None)
        form.file.errors = [f"The file is over the limit of {size(current_app.config['IMPORT_MAX_BYTES'])}."]
        return render_template("contacts/import_new.html", form=form), 413
    if valid:
        upload = form.file.data
        try:
            contact_import = importing.store(upload.stream, upload.filename or "", actor=current_user)
        except importing.Refused as refused:
            db.session.rollback()
            form.file.errors = [str(refused)]
        else:
            db.session.commit()
            return redirect(url_for("imports.show", import_id=contact_import.id))
    return render_template("contacts/import_new.html", form=form), 400 if form.errors else 200


@bp.get("/contacts/imports/<int:import_id>")
@requires(Role.VIEWER)
def show(import_id: int) -> str:
    contact_import = _import_or_404(import_id)
    if targets("import-status"):
        return _status(contact_import)
    if contact_import.status == ImportStatus.UPLOADED:
        return _mapping_page(contact_import, contact_import.mapping)
    return render_template(
        "contacts/import_show.html",
        contact_import=contact_import,
        failures=importing.failures(contact_import),
        channel=import_channel(contact_import.id),
    )


def _status(contact_import: ContactImport) -> str:
    return render_template(
        "contacts/_import_status.html", contact_import=contact_import, failures=importing.failures(contact_import)
    )


def _columns(contact_import: ContactImport) -> list[str]:
    """The mapping the form sent: a choice per column, the automatic one where it sent none."""
    automatic = mapping.automatic(contact_import.header)
    chosen = [request.form.get(f"column-{i}", automatic[i]) for i in range(len(contact_import.header))]
    return [choice if choice in mapping.CHOICES else mapping.IGNORE for choice in chosen]


def _mapping_page(contact_import: ContactImport, columns: list[str], problems: list[str] | None = None) -> str:
    return render_template(
        "contacts/import_mapping.html",
        contact_import=contact_import,
        columns=columns,
        problems=mapping.problems(columns) if problems is None else problems,
        preview=importing.preview(contact_import, columns),
        choices=mapping.CHOICE_LABELS,
        keys=mapping.attribute_keys(contact_import.header),
        encoding_name=csvfile.ENCODING_NAMES.get(contact_import.encoding, contact_import.encoding),
        delimiter_name=csvfile.DELIMITER_NAMES.get(contact_import.delimiter, "comma"),
    )


@bp.post("/contacts/imports/<int:import_id>/preview")
@requires(Role.OPERATOR)
@background
def preview(import_id: int) -> str:
    contact_import = _import_or_404(import_id)
    columns = _columns(contact_import)
    return render_template(
        "contacts/_import_preview.html",
        contact_import=contact_import,
        columns=columns,
        problems=mapping.problems(columns),
        preview=importing.preview(contact_import, columns),
    )


@bp.post("/contacts/imports/<int:import_id>/start")
@requires(Role.OPERATOR)
def start(import_id: int) -> str | Response | tuple[str, int]:
    contact_import = _import_or_404(import_id)
    columns = _columns(contact_import)
    if contact_import.status == ImportStatus.UPLOADED and (problems := mapping.problems(columns)):
        return _mapping_page(contact_import, columns, problems), 400
    if importing.start(contact_import, columns):
        db.session.commit()
        _queue(contact_import, f"Importing {plural(contact_import.total_rows, 'row')} from {contact_import.file_name}.")
    return redirect(url_for("imports.show", import_id=contact_import.id))


@bp.post("/contacts/imports/<int:import_id>/retry")
@requires(Role.OPERATOR)
def retry(import_id: int) -> Response:
    contact_import = _import_or_404(import_id)
    if importing.try_again(contact_import):
        db.session.commit()
        _queue(contact_import, f"Import #{contact_import.id} resumes after row {contact_import.rows_done:,}.")
    return redirect(url_for("imports.show", import_id=contact_import.id))


def _queue(contact_import: ContactImport, notice: str) -> None:
    """Queue the committed import's job, and say so. If Redis refuses it (full,
    or down), the import stays queued in the database, and the reconciler
    queues it again (``importing.requeue_stalled``) once Redis takes work."""
    try:
        jobqueue.enqueue_import(contact_import.id)
    except RedisError as error:
        log.warning("import %s: committed but not queued: %s", contact_import.id, error)
        stall = current_app.config["IMPORT_STALL_SECONDS"]
        flash(
            f"{notice} The job queue (Redis) refused it just now, so it waits: it starts by itself "
            f"within about {stall:.0f} seconds of Redis taking work again. Nothing is lost.",
            "warning",
        )
        return
    flash(notice, "success")


@bp.get("/contacts/imports/<int:import_id>/failed-rows.csv")
@requires(Role.VIEWER)
def failed_rows(import_id: int) -> Response:
    contact_import = _import_or_404(import_id)
    return Response(
        stream_with_context(importing.failed_rows_csv(contact_import)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{contact_import.id}-failed-rows.csv"'},
    )
