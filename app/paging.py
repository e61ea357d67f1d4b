"""Pages of a list, with Flask-SQLAlchemy's pagination."""

from math import ceil

from flask import request
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, select

from app.extensions import db

# No list is read this deep; a page number past it is read as this one, which
# keeps a capped count's LIMIT (and OFFSET) inside PostgreSQL's bigint.
MAX_PAGE = 1_000_000


def asked_page() -> int:
    """``?page=``, at least 1 and at most MAX_PAGE; anything not a number is 1."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


def count(query: Select, limit: int | None = None) -> int:
    """How many rows ``query`` gives; with ``limit``, at most that many (it
    stops reading there: a capped count of a million matches reads ``limit`` rows)."""
    rows = query.order_by(None)
    if limit is not None:
        rows = rows.limit(limit)
    return db.session.scalar(select(func.count()).select_from(rows.subquery())) or 0


def count_limit(per_page: int, cap: int) -> int:
    """Where a capped count stops: ``cap`` or the page asked for, and one more."""
    return max(cap, asked_page() * per_page) + 1


def capped_count(query: Select, per_page: int, cap: int) -> tuple[int, bool]:
    """How many rows ``query`` gives, counting no further than ``count_limit``;
    and whether it stopped there (there may be more)."""
    limit = count_limit(per_page, cap)
    total = count(query, limit)
    return total, total >= limit


def paginate(
    query: Select, per_page: int, total: int | None = None, cap: int | None = None, capped: bool = False
) -> Pagination:
    """The page ``?page=`` asks for; a number out of range gets the nearest
    page, never an error (or a database overflow on ``?page=99999999999999``).

    ``total``, when it is known without counting (a campaign's counters), saves
    the COUNT query that would otherwise read a 100,000-recipient campaign;
    ``capped`` then says whether it was counted with a cap (``capped_count``).
    ``cap``: count no further than that many rows, or than the page asked
    for and one more; the pagination's ``capped`` then says there may be
    more than ``total`` (a search matching a million recipients).
    """
    if total is None:
        total, capped = capped_count(query, per_page, cap) if cap is not None else (count(query), False)
    pages = max(ceil(total / per_page), 1)
    page = min(asked_page(), pages)
    pagination = db.paginate(query, page=page, per_page=per_page, max_per_page=per_page, error_out=False, count=False)
    # count=False leaves the total for us to set, as Flask-SQLAlchemy documents.
    pagination.total = total
    pagination.capped = capped  # type: ignore[attr-defined]
    return pagination


__all__ = ["MAX_PAGE", "Pagination", "asked_page", "capped_count", "count", "count_limit", "paginate"]
