"""``flask users …``: accounts from the command line, for the first admin and lost passwords."""

import click
from flask.cli import with_appcontext

from app.audit import Via
from app.auth.models import Role
from app.extensions import db
from app.formatting import plural
from app.users import staff


@click.group(help="Staff accounts.")
def users() -> None:
    pass


@users.command("create", help="Create an account; prompts for its password.")
@click.option("--email", required=True, help="Their email address; what they sign in with.")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.VIEWER.value, show_default=True)
@click.password_option("--password", help="Prompted for (and confirmed) when not given.")
@with_appcontext
def create(email: str, role: str, password: str) -> None:
    try:
        user = staff.add(email, Role(role), password, actor=None, via=Via.COMMAND_LINE)
    except staff.StaffChangeRefused as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"Created {user.email} as {user.role}.")


@users.command("set-password", help="Give an account a new password; its open sessions end.")
@click.option("--email", required=True)
@click.password_option("--password", help="Prompted for (and confirmed) when not given.")
@with_appcontext
def set_password(email: str, password: str) -> None:
    try:
        revoked = staff.set_password(staff.find(email), password, actor=None, via=Via.COMMAND_LINE)
    except staff.StaffChangeRefused as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    tokens = f" {plural(revoked, 'API token')} of theirs revoked." if revoked else ""
    click.echo(f"New password set for {email.strip().lower()}; their open sessions have ended.{tokens}")
