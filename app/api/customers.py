"""Customers: the web app's contacts (``app.contacts``), through the same
normalisation and the same ``book.save``."""

from __future__ import annotations

from typing import Annotated

from flask import current_app, request, url_for
from pydantic import Field, StringConstraints
from sqlalchemy import false
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from app.api import shapes
from app.api.auth import api_user
from app.api.body import StrictModel
from app.api.problems import Problem, invalid
from app.api.shapes import CustomerOut, CustomerPage, PageQuery, QueryModel, json_response
from app.api.spec import endpoint
from app.audit import Via
from app.auth.access import requires
from app.auth.models import Role
from app.contacts import book
from app.contacts.filters import ATTRIBUTE_ARG, Filters
from app.contacts.models import Contact
from app.extensions import db
from app.messaging.addresses import InvalidAddress, normalize_email, normalize_phone

Text200 = Annotated[str, StringConstraints(max_length=200)]
AttributeKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", min_length=1, max_length=64)]
AttributeValue = Annotated[str, StringConstraints(max_length=1000)]


class CustomerIn(StrictModel):
    phone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        None,
        description="Normalized to E.164; without +country, DEFAULT_REGION is assumed. Phone or email is required.",
    )
    email: Annotated[str, StringConstraints(max_length=320)] | None = None
    first_name: Text200 | None = None
    last_name: Text200 | None = None
    location: Text200 | None = None
    preferred_product: Text200 | None = None
    attributes: Annotated[dict[AttributeKey, AttributeValue], Field(max_length=100)] | None = None


class CustomerFilters(QueryModel):
    """Filters combine (all must hold). ``attributes.KEY=value`` (any number of
    them, such as ``?attributes.plan=gold``) keeps the customers whose
    attribute KEY is that value: the key in any case, the value exactly."""

    location: str | None = Field(None, description="Only the customers in this location (exactly as stored).")
    preferred_product: str | None = Field(
        None, description="Only the customers preferring this product (exactly as stored)."
    )


class CustomerQuery(CustomerFilters, PageQuery):
    phone: str | None = Field(None, description="Only the customer with this phone, once normalized.")


def _normalized(json: CustomerIn) -> tuple[str | None, str | None]:
    phone = email = None
    if (json.phone or "").strip():
        try:
            phone = normalize_phone(json.phone.strip(), current_app.config["DEFAULT_REGION"])  # type: ignore[union-attr]
        except InvalidAddress as error:
            raise invalid("phone", str(error)) from None
    if (json.email or "").strip():
        try:
            email = normalize_email(json.email.strip())  # type: ignore[union-attr]
        except InvalidAddress as error:
            raise invalid("email", str(error)) from None
    if phone is None and email is None:
        raise invalid("phone", "A customer needs a phone or an email.")
    return phone, email


@requires(Role.OPERATOR)
@endpoint({201: CustomerOut}, errors=(409,), json=CustomerIn, tags=["customers"], location=True)
def create(json: CustomerIn) -> Response:
    """Create a customer

    A customer (a contact of the web app) with a phone, an email or both, normalized as
    pasted lines are; 409 if one has the same phone (or email). Its URL is in ``Location``."""
    phone, email = _normalized(json)
    try:
        contact = book.save(
            None,
            actor=api_user(),
            via=Via.API,
            phone=phone,
            email=email,
            first_name=(json.first_name or "").strip(),
            last_name=(json.last_name or "").strip(),
            location=(json.location or "").strip(),
            preferred_product=(json.preferred_product or "").strip(),
            attributes=json.attributes or {},
        )
        db.session.commit()
    except book.AddressTaken as taken:
        said = f"Customer {taken.contact_id} ({taken.label}) already has this {taken.field}."
        raise Problem(409, said, errors=[{"field": taken.field, "message": said}]) from None
    except IntegrityError:
        # Added meanwhile by someone else: the unique index caught it.
        db.session.rollback()
        raise Problem(
            409, "A customer with this phone or email was just added.", errors=[{"field": "phone", "message": "taken"}]
        ) from None
    location = url_for("api.get_customer", customer_id=contact.id)
    return json_response(shapes.customer(contact), 201, location=location)


@requires(Role.VIEWER)
@endpoint({200: CustomerPage}, errors=(400,), query=CustomerQuery, tags=["customers"])
def index(query: CustomerQuery) -> Response:
    """List customers

    Customers, newest first, a page at a time; ``phone`` finds the one with that
    phone; ``location``, ``preferred_product`` and ``attributes.KEY=value``
    narrow the list as the contacts list's filters do. 400 names an attribute
    filter that cannot match (a key not of letters, digits and _)."""
    filters = filters_asked(query)
    found = filters.query().order_by(None)
    if query.phone is not None:
        key = _phone_key(query.phone)
        # Not a phone: no customer has it (``== None`` would find the email-only ones).
        found = found.where(Contact.phone == key) if key is not None else found.where(false())
    return json_response(shapes.paginated(found, shapes.customer, order_by=[Contact.id.desc()]))


def filters_asked(query: CustomerFilters, q: str = "") -> Filters:
    """The contacts list's filters (and its search, ``q``), as the query asks for them."""
    asked: dict[str, str | list[str]] = {
        "q": q,
        "location": query.location or "",
        "preferred_product": query.preferred_product or "",
    }
    asked |= {name: request.args.getlist(name) for name in request.args if name.startswith(ATTRIBUTE_ARG)}
    filters = Filters.from_args(asked)
    if filters.ignored:
        raise Problem(
            400,
            " ".join(filters.problems),
            errors=[{"field": "attributes", "message": message} for message in filters.problems],
        )
    return filters


def _phone_key(typed: str) -> str | None:
    """The phone as stored, or None (matching nothing) if it is not one. A
    ``+`` sent unencoded in a query string arrives as a space: read it as ``+``."""
    region = current_app.config["DEFAULT_REGION"]
    for candidate in (typed.strip(), "+" + typed.strip()):
        try:
            return normalize_phone(candidate, region)
        except InvalidAddress:
            continue
    return None


@requires(Role.VIEWER)
@endpoint({200: CustomerOut}, errors=(404,), tags=["customers"])
def show(customer_id: int) -> Response:
    """Get a customer

    One customer (a contact of the web app), with its attributes."""
    contact = db.session.get(Contact, customer_id)
    if contact is None:
        raise Problem(404, f"There is no customer {customer_id}.")
    return json_response(shapes.customer(contact))
