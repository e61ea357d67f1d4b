"""API tokens, kept only as hashes: a token is shown once, when it is made.

A token acts as its person, with their role as it is at each request, so
changing someone's role or deactivating them changes what their tokens may
do at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, Index, String, func, select, text, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import audit
from app.audit import Action, Via
from app.auth.models import User
from app.clock import utcnow
from app.extensions import Model, db

# The prefix lets a secret scanner (or a person) tell what a leaked string is.
PREFIX = "cdt_"
# 32 random bytes, as the contract asks: 43 URL-safe characters after the prefix.
RANDOM_BYTES = 32
MAX_NAME = 100
# last_used_at is written at most this often per token: every request would
# make each GET a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiToken(Model):
    __tablename__ = "api_tokens"
    __table_args__ = (Index("api_tokens_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
    # sha256 of the whole token, hex. A fast hash is enough: the token is 256
    # random bits, so there is no dictionary to try.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Revoked tokens are kept (with who made them) until their person is deleted.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(lazy="joined")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str


def create(user: User, name: str, *, actor: User | None, via: Via = Via.WEB) -> Issued:
    """A new token for ``user``; the secret is in the result and nowhere else.
    Recorded in ``user``'s history; the caller commits."""
    secret = PREFIX + secrets.token_urlsafe(RANDOM_BYTES)
    token = ApiToken(user_id=user.id, name=name.strip()[:MAX_NAME], token_hash=hash_token(secret))
    db.session.add(token)
    db.session.flush()
    audit.record(Action.TOKEN_CREATED, actor=actor, via=via, subject_user_id=user.id, detail=f"“{token.name}”")
    return Issued(token, secret)


def active_of(user_id: int | None = None) -> list[ApiToken]:
    """Tokens not revoked, newest first: one person's, or everyone's (None)."""
    query = select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(db.session.scalars(query))


def revoke(tokens: list[ApiToken], *, actor: User | None, via: Via = Via.WEB) -> int:
    """Revoke these tokens, recording each; returns how many were still active."""
    done = 0
    for token in tokens:
        changed = db.session.execute(
            update(ApiToken).where(ApiToken.id == token.id, ApiToken.revoked_at.is_(None)).values(revoked_at=func.now())
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            done += 1
            audit.record(
                Action.TOKEN_REVOKED, actor=actor, via=via, subject_user_id=token.user_id, detail=f"“{token.name}”"
            )
    return done


def named(user_id: int, name: str) -> list[ApiToken]:
    """A person's active tokens with this name: names are labels, not unique."""
    return [token for token in active_of(user_id) if token.name == name.strip()]


def authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, whose person is active; its
    ``last_used_at`` moved on (committed) when it is older than a minute."""
    token = db.session.scalar(
        select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None), User.active.is_(True))
    )
    if token is None:
        return None
    if token.last_used_at is None or utcnow() - token.last_used_at >= LAST_USED_RESOLUTION:
        # Its own short transaction: a GET commits nothing else.
        db.session.execute(
            text(
                "UPDATE api_tokens SET last_used_at = now() WHERE id = :id "
                "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')"
            ),
            {"id": token.id},
        )
        db.session.commit()
    return token
