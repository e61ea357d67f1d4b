from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from app import audit, htmx
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import people
from app.contacts import book
from app.contacts.filters import ATTRIBUTE_ARG, ATTRIBUTE_KEY, Filters
from app.contacts.forms import ContactForm
from app.contacts.models import Contact
from app.extensions import csrf, db
from app.optouts import registry
from app.paging import paginate

bp = Blueprint("contacts", __name__)
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
