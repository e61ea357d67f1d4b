"""``flask demo …``, ``flask users …`` and ``flask tokens …`` commands."""

import secrets

import click
from flask import Flask
from sqlalchemy import select

from app.audit import Via
from app.auth.models import Role, User
from app.campaigns import drafts
from app.campaigns.models import Campaign
from app.campaigns.parsing import parse_recipients
from app.extensions import db
from app.messaging.channels import Channel
from app.tokens.cli import cli as tokens
from app.users import staff
from app.users.cli import users

DEMO_RECIPIENTS = """\
Ada Lovelace, +1 202 555 0101
Grace Hopper, +1 202 555 0102
Katherine Johnson, +1 202 555 0103
Alan Turing, +1 202 555 0104
Margaret Hamilton, +1 202 555 0105
Dorothy Vaughan, +1 202 555 0106
Edsger Dijkstra, +1 202 555 0107
Barbara Liskov, +1 202 555 0108
Donald Knuth, +1 202 555 0109
Frances Allen, +1 202 555 0110
Radia Perlman, +1 202 555 0111
Ken Thompson, +1 202 555 0112
"""


DEMO_ADMIN = "admin@example.com"


def init_app(app: Flask) -> None:
    app.cli.add_command(demo)
    app.cli.add_command(users)
    app.cli.add_command(tokens, name="tokens")


@click.group(help="Demo data.")
def demo() -> None:
    pass


@demo.command("load", help="Create a first admin and a small draft SMS campaign, each only when none exists.")
def load() -> None:
    _load_admin()
    _load_campaign()


def _load_admin() -> None:
    """A first admin with a random password, printed this once; only its hash is kept."""
    if db.session.scalar(select(User.id).limit(1)) is not None:
        click.echo(
            "Staff accounts exist already; no demo admin created. "
            "Forgot a password? .venv/bin/flask users set-password --email …"
        )
        return
    password = secrets.token_urlsafe(12)
    staff.add(DEMO_ADMIN, Role.ADMIN, password, actor=None, via=Via.COMMAND_LINE)
    db.session.commit()
    click.echo(
        "\n  First admin created. Sign in with\n"
        f"      email:    {DEMO_ADMIN}\n"
        f"      password: {password}\n"
        "  This password is shown only now. Add your own account on the Staff page.\n"
    )


def _load_campaign() -> None:
    if db.session.scalar(select(Campaign.id).limit(1)) is not None:
        click.echo("Campaigns exist already; no demo loaded.")
        return
    parsed = parse_recipients(
        DEMO_RECIPIENTS, Channel.SMS, "US", limit=len(DEMO_RECIPIENTS), line_max=len(DEMO_RECIPIENTS)
    )
    campaign = drafts.create_campaign(
        "Welcome to Campaign Dispatcher",
        Channel.SMS.value,
        "Hi {first_name|there}! This is a demo message from Campaign Dispatcher.",
        parsed.recipients,
        created_by=None,
        via=Via.COMMAND_LINE,
    )
    db.session.commit()
    click.echo(f"Demo campaign {campaign.id} created with {len(parsed.recipients)} recipients.")
