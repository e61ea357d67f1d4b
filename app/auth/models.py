"""Staff accounts."""

import secrets
from datetime import datetime
from enum import StrEnum
from functools import cache

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, String, func, select
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from app.clock import utcnow
from app.extensions import Model, db
from app.messaging.addresses import MAX_ADDRESS, email_key, normalize_email

MIN_PASSWORD = 12


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: "Role") -> bool:
        """Roles are nested: an admin may do what an operator may, who may do what a viewer may."""
        return self.rank >= needed.rank

    @property
    def description(self) -> str:
        return {
            "viewer": "sees campaigns and their progress",
            "operator": "also creates and starts campaigns",
            "admin": "also manages staff accounts",
        }[self.value]


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="users_role_valid"),
        Index("users_email_unique", func.lower("email"), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # What the session cookie holds instead of the id. Replacing it (deactivation,
    # a new password) ends every session the person has open, on every device.
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The zone they enter and read times in (an IANA name, migration 0014); None is DEFAULT_TIMEZONE.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Where "Send a test to me" sends, by channel (migration 0019): their own
    # phone (E.164) and email (normalised); None until they set one on /account.
    test_phone: Mapped[str | None] = mapped_column(String(32))
    test_email: Mapped[str | None] = mapped_column(String(MAX_ADDRESS))

    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        return _password_matches(self.password_hash, password)

    def end_sessions(self) -> None:
        self.session_token = new_session_token()


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email_key(email)))


def find_by_session_token(token: str) -> User | None:
    return db.session.scalar(select(User).where(User.session_token == token, User.active.is_(True)))


def roles_signed_in(session_tokens: set[str]) -> dict[str, Role]:
    """The role of each person still signed in with one of ``session_tokens``:
    signing out everywhere, a new password and deactivation replace the token."""
    if not session_tokens:
        return {}
    found = select(User.session_token, User.role).where(User.session_token.in_(session_tokens), User.active.is_(True))
    return {token: Role(role) for token, role in db.session.execute(found)}


@cache
def _unknown_user_hash() -> str:
    """Checked when the email is unknown, so a wrong email takes as long as a wrong password."""
    return generate_password_hash(secrets.token_urlsafe(16))


def _password_matches(password_hash: str, password: str) -> bool:
    """The check, after the read that found the hash has ended: it is slow on
    purpose (a second or more on a busy machine), and a connection idle in a
    transaction that long holds back PostgreSQL's xmin horizon. Committed
    rather than rolled back, so nothing the request did before is lost."""
    db.session.commit()
    return check_password_hash(password_hash, password)


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None; never says which was wrong."""
    user = find_by_email(email)
    if user is None:
        _password_matches(_unknown_user_hash(), password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


def create_user(email: str, role: Role, password: str) -> User:
    user = User(email=normalize_email(email), role=role.value)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user
