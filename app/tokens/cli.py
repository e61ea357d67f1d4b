"""``flask tokens create|list|revoke``: API tokens from the command line."""

from datetime import timedelta

import click
from flask.cli import with_appcontext

from app.audit import Via
from app.auth.models import User, find_by_email
from app.extensions import db
from app.formatting import plural
from app.tokens import models as tokens


@click.group(help="API tokens.")
def cli() -> None:
    pass


def _person(email: str, *, active: bool = True) -> User:
    user = find_by_email(email)
    if user is None:
        raise click.ClickException(f"No staff account has the email {email}.")
    if active and not user.active:
        raise click.ClickException(f"{user.email} is deactivated: their tokens would not work.")
    return user


def _lifetime(context: click.Context, param: click.Parameter, value: str) -> timedelta | None:
    try:
        return tokens.parse_lifetime(value)
    except ValueError as wrong:
        raise click.BadParameter(str(wrong), context, param) from None


@cli.command("create", help="Make a token for someone; it is printed alone on the last line, this once.")
@click.option("--email", required=True)
@click.option("--name", required=True, help="A label, to tell the person's tokens apart.")
@click.option(
    "--expires-in",
    "lifetime",
    default=tokens.NEVER,
    show_default=True,
    callback=_lifetime,
    help="How long it works: days or hours, such as 90d or 12h, or never.",
)
@with_appcontext
def create(email: str, name: str, lifetime: timedelta | None) -> None:
    if not name.strip():
        raise click.BadParameter("give the token a name", param_hint="--name")
    user = _person(email)
    try:
        issued = tokens.create(user, name, actor=None, via=Via.COMMAND_LINE, lifetime=lifetime)
    except tokens.TokenRefused as refused:
        raise click.ClickException(f"{refused} (flask tokens list --email {user.email})") from None
    db.session.commit()
    expires = issued.token.expires_at
    until = f"until {expires.isoformat(timespec='seconds')}" if expires else "with no expiry"
    click.echo(f"Token “{issued.token.name}” for {user.email} ({user.role}), {until}. It is shown only now:")
    click.echo(issued.secret)


@cli.command("list", help="Someone's working tokens: name, created, last used, expiry. Never the tokens themselves.")
@click.option("--email", required=True)
@with_appcontext
def list_(email: str) -> None:
    user = _person(email, active=False)
    found = tokens.active_of(user.id)
    if not found:
        click.echo(f"{user.email} has no working API tokens.")
    for token in found:
        used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
        expires = f"expires {token.expires_at.isoformat(timespec='seconds')}" if token.expires_at else "no expiry"
        click.echo(
            f"{token.name}\tcreated {token.created_at.isoformat(timespec='seconds')}\tlast used {used}\t{expires}"
        )


@cli.command("revoke", help="Revoke someone's tokens with this name (every one of them).")
@click.option("--email", required=True)
@click.option("--name", required=True)
@with_appcontext
def revoke(email: str, name: str) -> None:
    user = _person(email, active=False)
    done = tokens.revoke(tokens.named(user.id, name), actor=None, via=Via.COMMAND_LINE)
    if not done:
        raise click.ClickException(f"{user.email} has no active token named “{name}”.")
    db.session.commit()
    click.echo(f"Revoked {plural(done, 'token')} named “{name}” of {user.email}.")
