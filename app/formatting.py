"""How numbers, counts, durations, times and quoted text read, in pages, notices and the history alike."""

import time
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

# Typed text quoted in a message is cut to this many characters.
QUOTED = 80


def number(value: int) -> str:
    """``12345`` → ``12,345``."""
    return f"{value:,}"


def plural(count: int, noun: str) -> str:
    """``plural(1, "line")`` → ``1 line``; ``plural(1200, "line")`` → ``1,200 lines``."""
    return f"{number(count)} {noun}{'' if count == 1 else 's'}"


def quote(text: str) -> str:
    """What was typed, in quotes, as a message shows it: a tab visible as ⇥,
    and a very long text cut, saying how long it was."""
    shown = text.replace("\t", " ⇥ ")
    if len(shown) > QUOTED:
        return f'"{shown[: QUOTED - 1]}…" ({number(len(text))} characters)'
    return f'"{shown}"'


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


def timestamp(moment: datetime, zone: tzinfo = UTC) -> str:
    """To the second, in the reader's zone, named: ``2026-12-03 10:00:00 EAT``."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {zone_name(local)}"


def when(moment: datetime, zone: tzinfo = UTC) -> str:
    """A time people plan by, in the reader's zone, named: ``3 Dec 2026, 10:00 EAT``."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y, %H:%M} {zone_name(local)}"


def clock(moment: datetime, zone: tzinfo = UTC, dated: bool = False) -> str:
    """A time on a chart's axis, in the reader's zone: ``10:00:05``, or ``3 Dec 10:00:05`` when ``dated``."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %H:%M:%S}" if dated else f"{local:%H:%M:%S}"


def zone_name(local: datetime) -> str:
    """``EAT``; a zone whose abbreviation is only an offset (``+04``) is named too: ``+04 Asia/Dubai``."""
    abbreviation = local.tzname() or ""
    key = getattr(local.tzinfo, "key", None) if isinstance(local.tzinfo, ZoneInfo) else None
    if key and (not abbreviation or abbreviation[0] in "+-"):
        return f"{abbreviation} {key}".strip()
    return abbreviation or "UTC"


def countdown(moment: datetime) -> str:
    """``in 2 h 5 min`` until ``moment``, at render time; countdown.js keeps counting."""
    seconds = moment.timestamp() - time.time()
    return f"in {duration(seconds)}" if seconds >= 1 else "any moment now"


def epoch(moment: datetime | float) -> int:
    return int(moment.timestamp() if isinstance(moment, datetime) else moment)


def retry_label(moment: datetime | float) -> str:
    """``Retrying in 8 s`` at render time; live.js keeps counting down."""
    seconds = epoch(moment) - int(time.time())
    return f"Retrying in {seconds} s" if seconds > 0 else "Retrying now"
