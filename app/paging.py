"""Pages of a list, with Flask-SQLAlchemy's pagination."""

from math import ceil

from flask import request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, select

from app.extensions import db


def paginate(query: Select, per_page: int, total: int | None = None) -> Pagination:
    """The page ``?page=`` asks for; a number out of range gets the nearest
    page, never an error (or a database overflow on ``?page=99999999999999``).

    ``total``, when it is known without counting (a campaign's counters), saves
    the COUNT query that would otherwise read a 100,000-recipient campaign.
    """
    if total is None:
        total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(ceil(total / per_page), 1)
    page = min(max(request.args.get("page", 1, type=int), 1), pages)
    pagination = db.paginate(query, page=page, per_page=per_page, max_per_page=per_page, error_out=False, count=False)
    # count=False leaves the total for us to set, as Flask-SQLAlchemy documents.
    pagination.total = total
    return pagination
