"""How long a message is on its channel: an SMS's encoding and segments, and
each channel's limit.

An SMS is GSM-7 when every character is in the GSM 03.38 alphabet (its
extension characters, such as ``€`` and ``{``, take two septets), else UCS-2
(UTF-16 code units: an emoji takes two). One segment holds 160 septets or 70
units; a longer message is split into segments of 153 septets or 67 units
(the rest is the header that joins them), and a split never cuts an extension
character or an emoji in two.
"""

from dataclasses import dataclass, field

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
SINGLE = {"GSM-7": 160, "UCS-2": 70}
JOINED = {"GSM-7": 153, "UCS-2": 67}
WHATSAPP_LIMIT = 4096


@dataclass(frozen=True)
class Length:
    characters: int
    encoding: str | None = None  # SMS only
    segments: int = 1


def measure(text: str, channel: str) -> Length:
    if channel != "sms":
        return Length(len(text))
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        units = [2 if c in GSM_EXTENSION else 1 for c in text]
        encoding = "GSM-7"
    else:
        units = [2 if ord(c) > 0xFFFF else 1 for c in text]
        encoding = "UCS-2"
    return Length(len(text), encoding, _segments(units, encoding))


def _segments(units: list[int], encoding: str) -> int:
    if sum(units) <= SINGLE[encoding]:
        return 1
    segments, room = 1, JOINED[encoding]
    for size in units:
        if size > room:
            segments, room = segments + 1, JOINED[encoding]
        room -= size
    return segments


def too_long(length: Length, channel: str, sms_max_segments: int) -> str | None:
    """Why a message of this length cannot be sent on the channel, or None."""
    if channel == "whatsapp" and length.characters > WHATSAPP_LIMIT:
        return f"{length.characters:,} characters; WhatsApp takes at most {WHATSAPP_LIMIT:,}"
    if channel == "sms" and length.segments > sms_max_segments:
        return f"{length.segments} SMS segments; at most {sms_max_segments} are sent as one message"
    return None


@dataclass
class Report:
    """The lengths of a campaign's messages, one per recipient, and those too long."""

    channel: str
    # None: nothing is too long (the lengths are only counted).
    sms_max_segments: int | None
    count: int = 0
    segments: int = 0
    fewest: int | None = None
    most: int | None = None
    shortest: int | None = None
    longest: int | None = None
    encodings: set[str] = field(default_factory=set)
    # The first few messages too long for the channel: (line, why); and how many in all.
    too_long: list[tuple[int, str]] = field(default_factory=list)
    too_long_count: int = 0

    def add(self, length: Length, times: int = 1, where: int = 0) -> None:
        """``times`` messages of this length; ``where`` names the first (a line number)."""
        self.count += times
        self.segments += length.segments * times
        self.fewest = min(self.fewest or length.segments, length.segments)
        self.most = max(self.most or 0, length.segments)
        self.shortest = min(self.shortest if self.shortest is not None else length.characters, length.characters)
        self.longest = max(self.longest or 0, length.characters)
        if length.encoding:
            self.encodings.add(length.encoding)
        if self.sms_max_segments is None:
            return
        if reason := too_long(length, self.channel, self.sms_max_segments):
            self.too_long_count += times
            if len(self.too_long) < 5:
                self.too_long.append((where, reason))
