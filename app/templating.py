"""Jinja filters and globals shared by pages and live fragments."""
from datetime import datetime, timezone

from flask import Flask

from app.campaigns.parsing import plural
from app.live.channel import campaign_channel


def duration(seconds: float | None) -> str:
    """``75`` → ``1 min 15 s``; rough on purpose, it is an estimate."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def timestamp(moment: datetime) -> str:
    """One zone for everyone reading a shared history: UTC, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def init_app(app: Flask) -> None:
    app.add_template_filter(duration)
    app.add_template_filter(timestamp)
    app.add_template_global(campaign_channel)
    app.add_template_global(plural)
