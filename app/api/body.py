"""Request bodies: a JSON object, read strictly, then checked against the
view's pydantic model (strict types, no unknown fields).

Python's json module is lenient where the contract is not: it takes
``NaN``, duplicate keys, lone surrogates (``"\\ud800"``) and any depth. Those
are refused here, before a model sees the data, so every endpoint refuses them
the same way.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from flask import g, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.problems import Problem

JSON_MIMETYPE = "application/json"
MAX_DEPTH = 32
MAX_ID = 2**63 - 1


class StrictModel(BaseModel):
    """A request body: exact JSON types (no ``true`` for 1, no ``1.0`` for 1,
    no ``"1"`` for 1) and no fields it does not name."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Options(StrictModel):
    """A body of options only, each with its default: the body may be left out."""


class Empty(Options):
    """The body of a POST that takes none: nothing, or ``{}``."""


class _Refused(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Refused(f'the key "{key}" appears twice')
        found[key] = value
    return found


def _check(value: Any) -> None:
    """Depth, NUL and lone surrogates, walked without recursion."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise Problem(400, f"The JSON is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path or "(a key)")
                stack.append((child, depth + 1, f"{path}.{key}" if path else key))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{path}[{n}]") for n, child in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, path)


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise Problem(400, "Text may not contain NUL characters.", errors=[{"field": path, "message": "contains NUL"}])
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Problem(
            400, "Text may not contain lone surrogates.", errors=[{"field": path, "message": "not valid Unicode"}]
        ) from None


def parse() -> Any:
    """The request's JSON body (None when there is none), read once per request.

    415 for a body that is not ``application/json``; 400 for anything that is
    not one valid, reasonably shallow JSON object of text without NUL or lone
    surrogates. Reading it may raise 413 (MAX_CONTENT_LENGTH).
    """
    if "api_json" in g:
        return g.api_json
    raw = request.get_data(cache=True)
    if not raw:
        g.api_json = None
        return None
    if request.mimetype != JSON_MIMETYPE:
        raise Problem(415, "Send the body as JSON, with Content-Type: application/json.")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, _Refused, RecursionError, ValueError) as error:
        reason = "it is nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise Problem(400, f"The body is not valid JSON: {reason}.") from None
    if not isinstance(data, dict):
        raise Problem(400, "The body must be a JSON object.")
    _check(data)
    g.api_json = data
    return data


def field_path(location: tuple[int | str, ...]) -> str:
    """pydantic's ``("customer_ids", 2)`` as ``customer_ids[2]``."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


MESSAGES = {
    "extra_forbidden": "is not a field of this request",
    "missing": "is required",
}


def validation_problem(error: ValidationError, where: str = "body") -> Problem:
    errors = []
    for item in error.errors(include_url=False):
        location = item["loc"]
        path = field_path(tuple(location))
        message = MESSAGES.get(item["type"], item["msg"]).removeprefix("Value error, ")
        errors.append({"field": path, "message": message})
    first = errors[0]
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return Problem(400, f"Invalid {where}: {detail}{more}.", errors=errors)


# A JSON id: an integer in 1..2^63-1 (strict models refuse true and 1.0).
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
