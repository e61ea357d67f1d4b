"""Jinja filters and globals shared by pages and live fragments."""

from flask import Flask

from app.campaigns.lifecycle import allowed
from app.campaigns.models import Channel
from app.campaigns.placeholders import is_personal
from app.formatting import duration, epoch, number, plural, retry_label, size, timestamp
from app.live.channel import campaign_channel


def init_app(app: Flask) -> None:
    app.add_template_filter(number)
    app.add_template_filter(duration)
    app.add_template_filter(timestamp)
    app.add_template_filter(lambda value: Channel(value).label, "channel_label")
    app.add_template_filter(size)
    app.add_template_global(plural)
    app.add_template_global(epoch)
    app.add_template_global(retry_label)
    app.add_template_global(campaign_channel)
    app.add_template_global(allowed, "allowed_changes")
    app.add_template_test(is_personal, "personal")
