"""Jinja filters and globals shared by pages and live fragments."""

import time
from datetime import UTC, datetime

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
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def epoch(moment: datetime | float) -> int:
    return int(moment.timestamp() if isinstance(moment, datetime) else moment)


def retry_label(moment: datetime | float) -> str:
    """``Retrying in 8 s`` at render time; live.js keeps counting down."""
    seconds = epoch(moment) - int(time.time())
    return f"Retrying in {seconds} s" if seconds > 0 else "Retrying now"


def init_app(app: Flask) -> None:
    app.add_template_filter(duration)
    app.add_template_filter(timestamp)
    app.add_template_global(campaign_channel)
    app.add_template_global(plural)
    app.add_template_global(epoch)
    app.add_template_global(retry_label)
