"""GET /api/v1/openapi.json: the document spectree generates from the views.

For token holders only, as the contract has every path but /health: it maps
every operation, which is of use to someone probing the API and of none to
someone who may not call it. Signed-in staff read it on the reference page,
which fetches its own copy with the session (``tokens.reference_document``).
"""

from flask import Response

from app.api.shapes import json_response
from app.api.spec import document
from app.auth.access import requires
from app.auth.models import Role


@requires(Role.VIEWER)
def openapi() -> Response:
    return json_response(document())
