"""Email addresses and phone numbers as typed anywhere: what is refused, and how it is said."""

import pytest

from app.messaging.addresses import EMAIL_TYPED_MAX, InvalidAddress, normalize_email, normalize_phone


# email_validator read all of such an address, microseconds a character: this
# one took seconds. The bound only tells that from an answer, which is at once.
@pytest.mark.timeout(10)
def test_an_email_address_far_too_long_is_refused_unread_and_quoted_cut():
    typed = "a" + " " * 3_000_000 + "@example.com"
    with pytest.raises(InvalidAddress) as refused:
        normalize_email(typed)
    assert str(refused.value) == f'"a{" " * 78}…" (3,000,013 characters) is not a valid email address'
    assert refused.value.reason == "The email address is too long (3,000,013 characters; at most 254)."


def test_an_email_address_up_to_the_most_typed_is_for_the_validator_to_judge():
    at_most = "a" * (EMAIL_TYPED_MAX - len("@example.com")) + "@example.com"
    with pytest.raises(InvalidAddress) as refused:
        normalize_email(at_most)
    assert "characters too many" in refused.value.reason  # email_validator's own words
    assert normalize_email("  Ann@Example.COM ") == "ann@example.com"


def test_a_long_phone_number_is_quoted_cut():
    with pytest.raises(InvalidAddress) as refused:
        normalize_phone("1" * 1_000_000, "KE")
    assert str(refused.value) == f'"{"1" * 79}…" (1,000,000 characters) is not a valid phone number'
