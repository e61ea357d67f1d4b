"""What an htmx request tells us in its headers."""

from flask import request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def targets(element_id: str) -> bool:
    """True when htmx asked for the element with this id only (``hx-target``)."""
    return is_htmx() and request.headers.get("HX-Target") == element_id
