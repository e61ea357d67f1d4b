"""The channels a message goes out on."""

from enum import StrEnum


class Channel(StrEnum):
    """The channel a campaign's messages go out on: sms, whatsapp or email."""

    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"

    @property
    def label(self) -> str:
        return {"sms": "SMS", "whatsapp": "WhatsApp", "email": "Email"}[self.value]

    @property
    def label_with_article(self) -> str:
        return {"sms": "an SMS", "whatsapp": "a WhatsApp", "email": "an email"}[self.value]

    @property
    def uses_phone(self) -> bool:
        return self is not Channel.EMAIL

    @property
    def contact_field(self) -> str:
        """The contact's field that holds the address this channel sends to, and
        the placeholder the address fills: ``phone`` or ``email``."""
        return "phone" if self.uses_phone else "email"
