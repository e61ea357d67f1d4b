"""How numbers, counts, durations and times read, in pages, notices and the history alike."""

import time
from datetime import UTC, datetime


def number(value: int) -> str:
    """``12345`` → ``12,345``."""
    return f"{value:,}"


def plural(count: int, noun: str) -> str:
    """``plural(1, "line")`` → ``1 line``; ``plural(1200, "line")`` → ``1,200 lines``."""
    return f"{number(count)} {noun}{'' if count == 1 else 's'}"


def size(octets: int) -> str:
    """``20971520`` → ``20 MB``; a byte count as people say it (1 MB = 1,048,576 bytes)."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if octets >= scale:
            return f"{octets / scale:.3g} {unit}"
    return plural(octets, "byte")


def duration(seconds: float | None) -> str:
    """``75`` → ``1 min 15 s``; rough on purpose, it is an estimate."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def timestamp(moment: datetime) -> str:
    """One zone for everyone reading a shared history: UTC, to the second, named."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def epoch(moment: datetime | float) -> int:
    return int(moment.timestamp() if isinstance(moment, datetime) else moment)


def retry_label(moment: datetime | float) -> str:
    """``Retrying in 8 s`` at render time; live.js keeps counting down."""
    seconds = epoch(moment) - int(time.time())
    return f"Retrying in {seconds} s" if seconds > 0 else "Retrying now"
