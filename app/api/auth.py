"""Bearer tokens, and the role each endpoint needs.

API views declare their role with ``app.auth.access.requires`` or ``public``,
exactly as pages do, so the one access table covers both; the app-wide
``access.enforce`` leaves this blueprint to ``authenticate`` here, which reads
only ``Authorization: Bearer``. A session cookie counts for nothing.
"""

from __future__ import annotations

import re

from flask import g, request

from app import logs
from app.api.problems import Problem
from app.api.shapes import timestamp
from app.auth.access import PUBLIC, required_role
from app.auth.models import Role, User
from app.tokens import models as tokens

BEARER = re.compile(r"Bearer +([\x21-\x7e]+) *", re.IGNORECASE)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}
INVALID = 'Bearer realm="api", error="invalid_token"'


def bearer_token() -> str | None:
    found = BEARER.fullmatch(request.headers.get("Authorization", ""))
    return found.group(1) if found else None


def authenticate() -> None:
    """Before every API view: 401 without a valid token, 403 for a role too low."""
    needed = required_role(request.endpoint or "")
    if needed == PUBLIC:
        return
    secret = bearer_token()
    if secret is None:
        raise Problem(401, "Send a token: Authorization: Bearer <token>.", headers=CHALLENGE)
    token = tokens.authenticate(secret)
    if token is None:
        expired = tokens.expired_at(secret)
        if expired is not None:
            raise Problem(
                401,
                f"That token expired at {timestamp(expired)}. Make a new one on the API tokens page.",
                headers={"WWW-Authenticate": INVALID + ', error_description="The token expired"'},
            )
        raise Problem(
            401,
            "That token is not valid: it is unknown or revoked, or its person was deactivated.",
            headers={"WWW-Authenticate": INVALID},
        )
    g.api_token_id = token.id
    g.api_user = token.user
    logs.add(user_id=token.user_id)
    if not isinstance(needed, Role):
        raise Problem(403, "This endpoint has no access rule, so it is refused to everyone.")
    if not token.user.role_enum.allows(needed):
        raise Problem(
            403, f"The token's person is a {token.user.role}, and this needs the {needed.value} role or higher."
        )


def api_user() -> User:
    """The person whose token made this request: the actor of whatever it changes."""
    return g.api_user
