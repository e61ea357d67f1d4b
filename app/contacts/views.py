import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from app import audit, htmx, jobqueue, paging
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import bulk_contacts, people
from app.contacts import book, bulk
from app.contacts.filters import ATTRIBUTE_ARG, ATTRIBUTE_KEY, Filters
from app.contacts.forms import ContactForm
from app.contacts.models import Contact, ContactChange
from app.extensions import csrf, db
from app.optouts import registry
from app.paging import paginate

bp = Blueprint("contacts", __name__)
log = logging.getLogger(__name__)
# The most attribute columns the list shows at once.
MAX_COLUMNS = 10


def _contact_or_404(contact_id: int) -> Contact:
    return db.get_or_404(
        Contact, contact_id, description="There is no contact with that number: it may have been deleted."
    )


@bp.get("/contacts")
@requires(Role.VIEWER)
def index() -> str:
    """The contacts list, filtered as the URL says (what is not understood is
    named and ignored); for htmx, the table only."""
    filters = Filters.from_args(request.args)
    columns = _columns(request.args)
    page = paginate(filters.query(), current_app.config["CAMPAIGNS_PER_PAGE"])
    listed = {"page": page, "filters": filters, "columns": columns}
    if htmx.targets("contact-list"):
        return render_template("contacts/_list.html", **listed)
    return render_template(
        "contacts/index.html",
        **listed,
        locations=book.choices(Contact.location),
        products=book.choices(Contact.preferred_product),
        imports=book.imports_to_choose(),
        keys=list(dict.fromkeys([*columns, *book.attribute_keys()])),
        typed_attributes=_typed_attributes(request.args),
        # Imports and changes to many contacts at once: one event each.
        changes=audit.changes_of("contacts", limit=10),
    )


def _typed_attributes(args) -> list[str]:
    """What the attribute boxes hold: as typed, understood or not, so nothing
    typed is lost; ``?attributes.plan=gold`` as ``plan=gold``; one empty box at least."""
    prefix = len(ATTRIBUTE_ARG)
    api_style = [f"{arg[prefix:]}={value}" for arg, value in args.items(multi=True) if arg.startswith(ATTRIBUTE_ARG)]
    return args.getlist("attribute") + api_style or [""]


def _columns(args) -> list[str]:
    """The attribute keys shown as columns (``?column=plan``), lower-cased as keys
    are stored; what cannot be a key is left out, at most MAX_COLUMNS of them."""
    keys = [typed.strip().lower() for typed in args.getlist("column")]
    return list(dict.fromkeys(key for key in keys if ATTRIBUTE_KEY.fullmatch(key)))[:MAX_COLUMNS]


@bp.get("/contacts/<int:contact_id>")
@requires(Role.VIEWER)
def show(contact_id: int) -> str:
    contact = _contact_or_404(contact_id)
    return render_template(
        "contacts/show.html",
        contact=contact,
        messages=people.messages(contact.id),
        opt_outs=registry.of_contact(contact.phone, contact.email),
        history=audit.contact_history(contact.id),
    )


@bp.route("/contacts/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def new() -> str | Response:
    return _edit(None)


@bp.route("/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def edit(contact_id: int) -> str | Response:
    return _edit(_contact_or_404(contact_id))


def _edit(contact: Contact | None) -> str | Response:
    form = ContactForm(obj=contact)
    if form.validate_on_submit():
        try:
            saved = book.save(
                contact,
                actor=current_user,
                phone=form.normalized_phone,
                email=form.normalized_email,
                first_name=form.first_name.data.strip(),
                last_name=form.last_name.data.strip(),
                location=form.location.data.strip(),
                preferred_product=form.preferred_product.data.strip(),
                attributes=form.parsed_attributes or {},
            )
        except book.AddressTaken as taken:
            link = url_for("contacts.show", contact_id=taken.contact_id)
            said = Markup('<a href="{}">{}</a> already has this {}.').format(link, taken.label, taken.field)
            form[taken.field].errors.append(said)
        else:
            db.session.commit()
            flash(f"Contact {saved.label} saved.", "success")
            return redirect(url_for("contacts.show", contact_id=saved.id))
    return render_template("contacts/form.html", form=form, contact=contact)


@bp.post("/contacts/<int:contact_id>/delete")
@requires(Role.OPERATOR)
def delete(contact_id: int) -> Response:
    contact = _contact_or_404(contact_id)
    label = contact.label
    erased = people.delete_contact(contact, actor=current_user)
    db.session.commit()
    kept = (
        f" The {erased} message{'s' if erased != 1 else ''} sent to them stay counted, with their details erased."
        if erased
        else ""
    )
    flash(f"Contact {label} deleted.{kept}", "success")
    return redirect(url_for("contacts.index"))


@bp.get("/contacts/bulk")
@requires(Role.OPERATOR)
def confirm_bulk() -> str:
    """A change to every contact the list's filters choose, to confirm, counted
    now: a dialog on the list (htmx), or a page of its own."""
    asked = bulk.Asked.from_args(request.args)
    count = paging.count(asked.filters.query()) if asked.problem is None else 0
    template = "contacts/_bulk_dialog.html" if htmx.is_htmx() else "contacts/bulk_confirm.html"
    return render_template(template, change_request=asked, count=count)


@bp.post("/contacts/bulk")
@requires(Role.OPERATOR)
def bulk_change() -> Response:
    """Make the confirmed change: at once when it is one batch or less, else
    by a job whose page follows it."""
    asked = bulk.Asked.from_args(request.form)
    back = url_for("contacts.index", **asked.filters.args())
    if asked.problem is not None:
        flash(f"Nothing was changed. {asked.problem}", "warning")
        return redirect(back)
    expected = request.form.get("expected", 0, type=int)
    change = bulk.create(asked, expected=expected, actor=current_user)
    db.session.commit()
    if expected <= current_app.config["BULK_CHANGE_BATCH_ROWS"]:
        try:
            bulk_contacts.run(change.id)
        except Exception:
            # Recorded on the change, with its reason: its page says it and offers Try again.
            return redirect(url_for("contacts.change", change_id=change.id))
        db.session.refresh(change)
        flash(f"Done: {bulk.said(change)}.", "success")
        return redirect(back)
    _queue_change(change.id)
    return redirect(url_for("contacts.change", change_id=change.id))


def _queue_change(change_id: int) -> None:
    """Queue the committed change's job. If Redis refuses it, the change stays
    queued in the database and the reconciler queues it again (``bulk.requeue_stalled``)."""
    try:
        jobqueue.enqueue_contact_change(change_id)
    except RedisError as error:
        log.warning("contact change %s: committed but not queued: %s", change_id, error)
        stall = current_app.config["IMPORT_STALL_SECONDS"]
        flash(
            f"The job queue (Redis) refused this change just now, so it waits: it starts by itself within about "
            f"{stall:.0f} seconds of Redis taking work again. Nothing is lost.",
            "warning",
        )


@bp.get("/contacts/changes/<int:change_id>")
@requires(Role.VIEWER)
def change(change_id: int) -> str:
    """A change to many contacts and its progress; for htmx, the status block only."""
    found = db.get_or_404(ContactChange, change_id, description="There is no change with that number.")
    shown = {
        "change": found,
        "said": bulk.said(found),
        "change_title": f"{bulk.what(found.action, found.attribute_key, found.attribute_value).capitalize()} contacts",
    }
    if htmx.targets("change-status"):
        return render_template("contacts/_change_status.html", **shown)
    return render_template("contacts/change.html", **shown, filters=Filters.from_args(found.filters))


@bp.post("/contacts/changes/<int:change_id>/retry")
@requires(Role.OPERATOR)
def retry_change(change_id: int) -> Response:
    if bulk.try_again(change_id):
        db.session.commit()
        _queue_change(change_id)
    return redirect(url_for("contacts.change", change_id=change_id))
