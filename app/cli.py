"""``flask demo …`` commands."""
import click
from flask import Flask
from sqlalchemy import select

from app.campaigns import dispatch
from app.campaigns.models import Campaign, Channel
from app.campaigns.parsing import parse_recipients
from app.extensions import db

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


def init_app(app: Flask) -> None:
    app.cli.add_command(demo)


@click.group(help="Demo data.")
def demo() -> None:
    pass


@demo.command("load", help="Create a small draft SMS campaign, once (skipped when any campaign exists).")
def load() -> None:
    if db.session.scalar(select(Campaign.id).limit(1)) is not None:
        click.echo("Campaigns exist already; no demo loaded.")
        return
    parsed = parse_recipients(DEMO_RECIPIENTS, Channel.SMS, "US", limit=len(DEMO_RECIPIENTS))
    campaign = dispatch.create_campaign(
        "Welcome to Campaign Dispatcher",
        Channel.SMS.value,
        "Hi! This is a demo message from Campaign Dispatcher.",
        parsed.recipients,
    )
    db.session.commit()
    click.echo(f"Demo campaign {campaign.id} created with {len(parsed.recipients)} recipients.")
