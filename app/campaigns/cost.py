"""What a campaign costs, and whether a channel's monthly budget allows it.

Prices are settings, per channel: an SMS per segment (over every recipient's
own text), a WhatsApp message or an email each. A channel with a monthly
budget refuses a Start that would take the campaigns started this calendar
month (UTC) past it; the check and the Start share one transaction and a
lock per channel, so two Starts at once cannot both spend the last of it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text

from app.campaigns import skipping
from app.campaigns.models import Campaign
from app.campaigns.skipping import Skipped
from app.extensions import db
from app.messaging import length
from app.messaging.channels import Channel

PRICE = {Channel.SMS: "SMS_PRICE", Channel.WHATSAPP: "WHATSAPP_PRICE", Channel.EMAIL: "EMAIL_PRICE"}
BUDGET = {
    Channel.SMS: "SMS_MONTHLY_BUDGET",
    Channel.WHATSAPP: "WHATSAPP_MONTHLY_BUDGET",
    Channel.EMAIL: "EMAIL_MONTHLY_BUDGET",
}


@dataclass(frozen=True)
class Estimate:
    messages: int
    segments: int | None  # SMS only
    amount: Decimal
    currency: str
    # Recipients not sent to (they opted out), not in the counts above.
    skipped: int = 0

    @property
    def units(self) -> int:
        return self.segments if self.segments is not None else self.messages


def money(amount: Decimal, currency: str) -> str:
    """``12.3456`` → ``12.35 USD``; below a unit, with enough places to be more than nothing."""
    places = "0.01" if amount >= 1 or amount == 0 else "0.001" if amount >= Decimal("0.01") else "0.0001"
    return f"{amount.quantize(Decimal(places), ROUND_HALF_UP):,} {currency}"


def estimate(campaign: Campaign | Mapping[Any, Any], settings: Any, skipped: Skipped | None = None) -> Estimate:
    """What the campaign (a model, or its row) costs to send to every recipient
    but the ``skipped``."""
    fields = ("channel", "message", "sms_segments", "recipient_count")
    row = campaign if isinstance(campaign, Mapping) else {name: getattr(campaign, name) for name in fields}
    channel = Channel(row["channel"])
    segments = None
    if channel == Channel.SMS:
        segments = row["sms_segments"]
        if segments is None:  # saved before segments were kept: its literal text for everyone
            segments = length.measure(row["message"], channel).segments * row["recipient_count"]
    messages = row["recipient_count"]
    if skipped is not None:
        messages -= skipped.recipients
        segments = segments - skipped.segments if segments is not None else None
    units = segments if segments is not None else messages
    amount = (Decimal(str(settings[PRICE[channel]])) * units).quantize(Decimal("0.0001"))
    return Estimate(messages, segments, amount, settings["PRICE_CURRENCY"], skipped.recipients if skipped else 0)


def at_start(campaign: Campaign | Mapping[Any, Any], settings: Any) -> Estimate:
    """What Start would send and spend now: every recipient whose address has
    not opted out of the channel."""
    if isinstance(campaign, Mapping):
        skipped = skipping.among(campaign["id"], campaign["channel"], campaign["message"])
    else:
        skipped = skipping.among(campaign.id, campaign.channel, campaign.message)
    return estimate(campaign, settings, skipped)


def spent_this_month(channel: str) -> Decimal:
    return db.session.scalar(
        text(
            "SELECT coalesce(sum(estimated_cost), 0) FROM campaigns WHERE channel = :channel "
            "AND started_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        ),
        {"channel": channel},
    )


def budget_refusal(channel: str, cost: Estimate, settings: Any) -> str | None:
    """Why the channel's budget refuses a campaign of this cost now, or None.
    Takes the channel's budget lock until the transaction ends: call it where
    Start commits."""
    budget = Decimal(str(settings[BUDGET[Channel(channel)]]))
    if budget <= 0:
        return None
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"budget-{channel}"})
    left = budget - spent_this_month(channel)
    if cost.amount <= left:
        return None
    label = Channel(channel).label
    return (
        f"Not started: this campaign needs about {money(cost.amount, cost.currency)}, and "
        f"{money(max(left, Decimal(0)), cost.currency)} of this month's {label} budget of "
        f"{money(budget, cost.currency)} is left."
    )
