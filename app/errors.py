"""Error responses people can read: a page, or for htmx a notice at the top of the page."""

from flask import Flask, current_app, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.api import problems
from app.formatting import size
from app.htmx import is_htmx


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)


def describe(error: HTTPException) -> str:
    if isinstance(error, CSRFError):
        return "This page was open too long and its security token expired. Reload the page and try again."
    if isinstance(error, RequestEntityTooLarge):
        limit = size(current_app.config["MAX_CONTENT_LENGTH"])
        return f"That request is over the limit of {limit}. Split the recipient list into several campaigns."
    return error.description or error.name


def handle_http_error(error: HTTPException):
    if problems.is_api_request():
        # Under /api/ even a path that matches nothing answers in JSON.
        return problems.from_http_error(error)
    if error.response is not None:
        # Built for this case already, e.g. the sign-in form saying how long to wait.
        return error.response
    message = describe(error)
    if is_htmx():
        # htmx would drop an error response; the notice goes to the page's notice area instead.
        headers = {"HX-Retarget": "#notices", "HX-Reswap": "outerHTML"}
        return render_template("_notices.html", notices=[("warning", message)], role="alert"), error.code, headers
    return render_template("error.html", error=error, message=message), error.code
