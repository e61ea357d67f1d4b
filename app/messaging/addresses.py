"""Email addresses and phone numbers in the one form they are kept and compared in.

Staff sign-in emails, pasted recipients and (later) contacts all go through
here, so "Bob@Example.com " typed anywhere is the same person everywhere.
"""

import re

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

from app.formatting import number, quote
from app.messaging.channels import Channel

# The longest address kept (an email may be 320 characters).
MAX_ADDRESS = 320
# An email address longer than this, as typed, is refused unread. No real one
# comes near it: email_validator allows 254 characters once normalised (NFC
# joins at most four code points into one), but reads all it is given first,
# microseconds a character: a megabyte sent to the sign-in form held the web
# process for 5 s before the form was checked at all.
EMAIL_TYPED_MAX = 4 * 254


class InvalidAddress(ValueError):
    """The message says what was wrong, quoting what was typed (cut when
    long); ``reason`` is the validator's explanation, when it gives one."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def local_dialling(region: str) -> str:
    """How a phone is typed without +country where we are (DEFAULT_REGION),
    for a form's hint: ``as dialled locally (Kenya: 0712 123456)``."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return f"as dialled locally ({region})"
    country = country_name(region)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    return f"as dialled locally ({country}: {national})"


def country_name(region: str) -> str:
    """``Kenya`` for ``KE``: the name in common use where ISO 3166's differs
    (``South Korea``, not ``Korea, Republic of``); the code itself if unknown."""
    country = pycountry.countries.get(alpha_2=region.upper())
    if country is None:
        return region
    return getattr(country, "common_name", country.name)


def normalize_email(address: str) -> str:
    """Syntax checked (no DNS), the domain normalised, and lower-cased whole:
    mailbox providers treat the local part case-insensitively in practice, and
    "Bob@" and "bob@" typed twice mean one person."""
    typed = address.strip()
    if len(typed) > EMAIL_TYPED_MAX:
        raise InvalidAddress(
            f"{quote(typed)} is not a valid email address",
            f"The email address is too long ({number(len(typed))} characters; at most 254).",
        )
    try:
        email = validate_email(typed, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidAddress(f"{quote(typed)} is not a valid email address", str(error)) from None
    return email.normalized.lower()


def email_key(typed: str) -> str:
    """What to look an email up by, valid or not: its normal form if it has
    one, else what was typed, trimmed and lower-cased (it then matches nothing)."""
    try:
        return normalize_email(typed)
    except InvalidAddress:
        return typed.strip().lower()


def normalize_phone(address: str, region: str) -> str:
    """E.164 (``+254712345678``); ``region`` is assumed for numbers typed without ``+country``."""
    try:
        parsed = phonenumbers.parse(address, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidAddress(f"{quote(address)} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def country_code_left_out(typed: str) -> int | None:
    """The country code of ``typed`` read as an international number, if it is
    one once a ``+`` goes in front (``44 20 7946 0958``: 44); else None."""
    digits = re.sub(r"\D", "", typed)
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    return number.country_code if phonenumbers.is_valid_number(number) else None


def is_phone(address: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(address, region))
    except phonenumbers.NumberParseException:
        return False


def normalize_address(address: str, channel: Channel, region: str) -> str:
    looks_like_email = "@" in address
    if channel.uses_phone:
        if looks_like_email:
            raise ValueError(f"{quote(address)} is an email address, but this is {channel.label_with_article} campaign")
        try:
            return normalize_phone(address, region)
        except InvalidAddress:
            raise ValueError(_phone_problem(address)) from None
    if not looks_like_email and is_phone(address, region):
        raise ValueError(f"{quote(address)} is a phone number, but this is an email campaign")
    try:
        return normalize_email(address)
    except InvalidAddress:
        raise ValueError(f"{quote(address)} is not a valid email address") from None


def _phone_problem(address: str) -> str:
    """Why a phone number is refused, and the fix when it is only the ``+``
    before its country code that is missing (``254 712 345678``: add +254?)."""
    if not address.lstrip().startswith("+") and (code := country_code_left_out(address)):
        return f"{quote(address)} is not a valid phone number without the + before its country code: add +{code}?"
    return f"{quote(address)} is not a valid phone number"
