"""Changing staff accounts, each change recorded in the audit trail.

Shared by the admin pages and ``flask users …``. An admin cannot change their
own role or deactivate themselves, so there is always at least one active
admin: the one making the change.

A new password and deactivation end the person's sessions and revoke their
API tokens, in the same transaction: a token made with a stolen session goes
with it. Reactivation brings neither back.
"""

from app import audit, zones
from app.audit import Action, Via
from app.auth.models import MIN_PASSWORD, Role, User, create_user, find_by_email
from app.messaging.addresses import InvalidAddress, normalize_email
from app.tokens import models as tokens


class StaffChangeRefused(ValueError):
    """A change that would break a rule; the message says which, for the person who asked."""


def check_email(email: str) -> str:
    try:
        return normalize_email(email)
    except InvalidAddress as invalid:
        raise StaffChangeRefused(f"{email.strip() or 'That'} is not a valid email address: {invalid.reason}") from None


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffChangeRefused(f"A password needs at least {MIN_PASSWORD} characters.")


def check_new_email(email: str) -> str:
    """The email of a new account, normalised: valid, and nobody's yet."""
    email = check_email(email)
    if find_by_email(email) is not None:
        raise StaffChangeRefused(f"{email} already has an account.")
    return email


def add(email: str, role: Role, password: str, *, actor: User | None, via: Via = Via.WEB) -> User:
    email = check_new_email(email)
    check_password(password)
    user = create_user(email, role, password)
    audit.record(Action.USER_CREATED, actor=actor, via=via, subject_user_id=user.id, detail=f"as {role.value}")
    return user


def change_role(user: User, role: Role, *, actor: User) -> None:
    if user.id == actor.id:
        raise StaffChangeRefused("You cannot change your own role; ask another admin.")
    if user.role == role.value:
        return
    previous, user.role = user.role, role.value
    audit.record(Action.USER_ROLE_CHANGED, actor=actor, subject_user_id=user.id, detail=f"{previous} → {role.value}")


def deactivate(user: User, *, actor: User) -> None:
    if user.id == actor.id:
        raise StaffChangeRefused("You cannot deactivate your own account; ask another admin.")
    if not user.active:
        return
    user.active = False
    user.end_sessions()
    audit.record(Action.USER_DEACTIVATED, actor=actor, subject_user_id=user.id)
    tokens.revoke_all_for(user, tokens.RevokeReason.DEACTIVATED, actor=actor)


def reactivate(user: User, *, actor: User) -> None:
    if user.active:
        return
    user.active = True
    audit.record(Action.USER_REACTIVATED, actor=actor, subject_user_id=user.id)


def set_password(user: User, password: str, *, actor: User | None, via: Via = Via.WEB) -> int:
    """The new password; returns how many API tokens that revoked."""
    check_password(password)
    user.set_password(password)
    audit.record(Action.USER_PASSWORD_SET, actor=actor, via=via, subject_user_id=user.id)
    return tokens.revoke_all_for(user, tokens.RevokeReason.PASSWORD_CHANGED, actor=actor, via=via)


def set_timezone(user: User, name: str) -> None:
    """The zone the person reads and types times in: a preference, not recorded in the history."""
    if not zones.known(name):
        raise StaffChangeRefused(f"{name!r} is not a time zone this server knows.")
    user.timezone = name


def set_test_addresses(user: User, phone: str | None, email: str | None) -> None:
    """Where the person's tests of a campaign go ("Send a test to me"), each
    already normalised, or None for none: a preference, not recorded in the history."""
    user.test_phone, user.test_email = phone, email


def find(email: str) -> User:
    user = find_by_email(email)
    if user is None:
        raise StaffChangeRefused(f"No account has the email {email}.")
    return user
