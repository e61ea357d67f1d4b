"""GET /api/v1/openapi.json: the document spectree generates from the views."""

from flask import Response

from app.api.shapes import json_response
from app.api.spec import document
from app.auth.access import public


@public
def openapi() -> Response:
    return json_response(document())
