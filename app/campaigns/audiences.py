"""A campaign sent to contacts: the contacts an audience chooses (by
location, product, attribute or import, never those who opted out of the
channel) become its recipients."""

from app.campaigns.parsing import ParsedRecipient
from app.contacts.filters import Audience
from app.messaging.channels import Channel


def recipients(audience: Audience, limit: int) -> list[ParsedRecipient]:
    """The audience's contacts as recipients, in the order they were added,
    each one line. ValueError says why there are none, or too many for a
    campaign (``limit``)."""
    channel = Channel(audience.channel)
    size = audience.size()
    if size == 0:
        reach = "a phone" if channel.uses_phone else "an email"
        raise ValueError(
            f"No contact with {reach} matches these filters, leaving out those who opted out of {channel.label}."
        )
    if size > limit:
        raise ValueError(f"{size:,} contacts match; a campaign takes at most {limit:,}. Narrow the filters.")
    return [
        ParsedRecipient(line, name, address, address)
        for line, (name, address) in enumerate(audience.addresses(), start=1)
    ]
