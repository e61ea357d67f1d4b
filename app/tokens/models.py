"""API tokens, kept only as hashes: a token is shown once, when it is made.

A token acts as its person, with their role as it is at each request, so
changing someone's role changes what their tokens may do at once. What ends a
person's sessions for safety (a new password, signing out everywhere,
deactivation) revokes their tokens too: a token made with a stolen session
must not outlive the person's answer to the theft.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app
from sqlalchemy import ColumnElement, DateTime, ForeignKey, Index, String, and_, func, or_, select, text, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import audit
from app.audit import Action, Via
from app.auth.models import User
from app.clock import utcnow
from app.extensions import Model, db
from app.formatting import plural, when

# The prefix lets a secret scanner (or a person) tell what a leaked string is.
PREFIX = "cdt_"
# 32 random bytes, as the contract asks: 43 URL-safe characters after the prefix.
RANDOM_BYTES = 32
MAX_NAME = 100
# last_used_at is written at most this often per token: every request would
# make each GET a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# A lifetime is whole days or hours; shorter than an hour is a typo more often
# than a wish, and ten years is "never" said with a number.
MIN_LIFETIME = timedelta(hours=1)
MAX_LIFETIME = timedelta(days=3650)
LIFETIME = re.compile(r"\s*(\d{1,7})\s*([dh])\s*", re.IGNORECASE)
NEVER = "never"


class RevokeReason(StrEnum):
    BY_HAND = "by_hand"
    PASSWORD_CHANGED = "password_changed"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
    DEACTIVATED = "deactivated"

    @property
    def label(self) -> str:
        return {
            "by_hand": "by hand",
            "password_changed": "password changed",
            "signed_out_everywhere": "signed out everywhere",
            "deactivated": "account deactivated",
        }[self.value]


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
    # None: it never expires (migration 0017).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Revoked tokens are kept (with who made them) until their person is deleted.
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A RevokeReason, set with revoked_at.
    revoked_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    @property
    def revoked_label(self) -> str:
        return RevokeReason(self.revoked_reason or RevokeReason.BY_HAND).label


def _live() -> ColumnElement[bool]:
    """Neither revoked nor expired: a token that still works (its person active)."""
    return and_(ApiToken.revoked_at.is_(None), or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > func.now()))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenRefused(ValueError):
    """A token that may not be made; the message says why, for the person who asked."""


def parse_lifetime(value: str) -> timedelta | None:
    """``"90d"`` → 90 days, ``"12h"`` → 12 hours, ``"never"`` → None.
    A ValueError says what is wrong with anything else."""
    if value.strip().lower() == NEVER:
        return None
    found = LIFETIME.fullmatch(value)
    if found is None:
        raise ValueError(f"“{value}” is not a lifetime: give days or hours, such as 90d or 12h, or “never”.")
    amount, unit = int(found.group(1)), found.group(2).lower()
    lifetime = timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
    if lifetime < MIN_LIFETIME:
        raise ValueError(f"“{value}” is too short: a token lasts at least an hour.")
    if lifetime > MAX_LIFETIME:
        raise ValueError(f"“{value}” is too long: at most {MAX_LIFETIME.days} days; or “never”.")
    return lifetime


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str


def create(
    user: User, name: str, *, actor: User | None, via: Via = Via.WEB, lifetime: timedelta | None = None
) -> Issued:
    """A new token for ``user``, expiring after ``lifetime`` (None: never);
    the secret is in the result and nowhere else. Recorded in ``user``'s
    history; the caller commits. TokenRefused past API_TOKENS_PER_PERSON."""
    # The person's row is locked, so two requests at once cannot both make the last one allowed.
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
    most = current_app.config["API_TOKENS_PER_PERSON"]
    if live_count(user.id) >= most:
        raise TokenRefused(
            f"{user.email} already has {plural(most, 'active token')}, the most one person may have. "
            "Revoke one to make another."
        )
    secret = PREFIX + secrets.token_urlsafe(RANDOM_BYTES)
    expires_at = utcnow() + lifetime if lifetime is not None else None
    token = ApiToken(
        user_id=user.id, name=name.strip()[:MAX_NAME], token_hash=hash_token(secret), expires_at=expires_at
    )
    db.session.add(token)
    db.session.flush()
    detail = f"“{token.name}”" + (f", expires {when(expires_at)}" if expires_at is not None else "")
    audit.record(Action.TOKEN_CREATED, actor=actor, via=via, subject_user_id=user.id, detail=detail)
    return Issued(token, secret)


def live_count(user_id: int) -> int:
    live = select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id, _live())
    return db.session.scalar(live) or 0


def active_of(user_id: int | None = None) -> list[ApiToken]:
    """Tokens neither revoked nor expired, newest first: one person's, or everyone's (None)."""
    query = select(ApiToken).where(_live()).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(db.session.scalars(query))


def ended_of(user_id: int | None = None, limit: int = 20) -> list[ApiToken]:
    """The latest tokens revoked or expired, the most recently ended first."""
    ended = func.coalesce(ApiToken.revoked_at, ApiToken.expires_at)
    query = select(ApiToken).where(~_live()).order_by(ended.desc(), ApiToken.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(db.session.scalars(query))


def revoke(tokens: list[ApiToken], *, actor: User | None, via: Via = Via.WEB) -> int:
    """Revoke these tokens, recording each; returns how many were still active."""
    done = 0
    for token in tokens:
        changed = db.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=func.now(), revoked_reason=RevokeReason.BY_HAND.value)
        ).rowcount  # type: ignore[attr-defined]
        if changed:
            done += 1
            audit.record(
                Action.TOKEN_REVOKED, actor=actor, via=via, subject_user_id=token.user_id, detail=f"“{token.name}”"
            )
    return done


def revoke_all_for(user: User, reason: RevokeReason, *, actor: User | None, via: Via = Via.WEB) -> int:
    """Revoke every token of ``user`` that still works, as part of ending
    their sessions for ``reason``; one history event says how many. The
    caller commits, with the change that is the reason."""
    revoked = db.session.scalars(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, _live())
        .values(revoked_at=func.now(), revoked_reason=reason.value)
        .returning(ApiToken.id)
    ).all()
    if revoked:
        audit.record(
            Action.TOKENS_REVOKED_ALL,
            actor=actor,
            via=via,
            subject_user_id=user.id,
            detail=f"({len(revoked)}: {reason.label})",
        )
    return len(revoked)


def revoked_notice(count: int) -> str:
    """What the person is told after their own action revoked ``count`` tokens."""
    return f" Your API tokens ({count}) are revoked too: make new ones for your programs." if count else ""


def named(user_id: int, name: str) -> list[ApiToken]:
    """A person's active tokens with this name: names are labels, not unique."""
    return [token for token in active_of(user_id) if token.name == name.strip()]


def _with_secret(secret: str):
    return (
        select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None), User.active.is_(True))
    )


def authenticate(secret: str) -> ApiToken | None:
    """The token with this secret, neither revoked nor expired, whose person is
    active; its ``last_used_at`` moved on (committed) when older than a minute."""
    token = db.session.scalar(_with_secret(secret).where(_live()))
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


def expired_at(secret: str) -> datetime | None:
    """When the token with this secret expired, if its expiry is all that
    refuses it: the holder is told so, and that a new one is the remedy."""
    return db.session.scalar(
        _with_secret(secret).with_only_columns(ApiToken.expires_at).where(ApiToken.expires_at <= func.now())
    )
