"""Jinja filters and globals shared by pages and live fragments."""

from datetime import datetime

from flask import Flask

from app import zones
from app.campaigns.transitions import allowed, retry_choices
from app.formatting import countdown, duration, epoch, number, plural, retry_label, size, timestamp, when, zone_name
from app.live.channel import campaign_channel
from app.messaging.channels import Channel
from app.messaging.placeholders import is_personal


def init_app(app: Flask) -> None:
    app.add_template_filter(number)
    app.add_template_filter(duration)
    # Times read in the signed-in person's zone (app.zones), named.
    app.add_template_filter(lambda moment: timestamp(moment, zones.viewer()), "timestamp")
    app.add_template_filter(lambda moment: when(moment, zones.viewer()), "when")
    # A history event's detail, with the time it speaks of (if any) in the reader's zone.
    app.add_template_filter(lambda event: event.detail_in(zones.viewer()), "event_detail")
    app.add_template_filter(countdown)
    app.add_template_global(lambda moment: zones.local_input(moment, zones.viewer()), "local_input")
    app.add_template_global(viewer_zone_label)
    app.add_template_filter(lambda value: Channel(value).label, "channel_label")
    app.add_template_filter(size)
    app.add_template_global(plural)
    app.add_template_global(epoch)
    app.add_template_global(retry_label)
    app.add_template_global(campaign_channel)
    app.add_template_global(allowed, "allowed_changes")
    app.add_template_global(retry_choices)
    app.add_template_test(is_personal, "personal")


def viewer_zone_label() -> str:
    """The signed-in person's zone as a form shows it: ``Africa/Nairobi (EAT)``."""
    zone = zones.viewer()
    name = zone_name(datetime.now(zone))
    return name if zone.key in name else f"{zone.key} ({name})"
