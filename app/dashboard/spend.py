"""Each channel's spend this calendar month (UTC) against its monthly budget,
as Start counts it (app.campaigns.cost): the estimated cost of the
campaigns started this month."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.campaigns import cost
from app.messaging.channels import Channel


@dataclass(frozen=True)
class Spend:
    channel: Channel
    spent: Decimal
    # None when the channel has no budget (BUDGET setting 0).
    budget: Decimal | None
    currency: str

    @property
    def spent_said(self) -> str:
        return cost.money(self.spent, self.currency)

    @property
    def budget_said(self) -> str:
        return cost.money(self.budget, self.currency) if self.budget is not None else ""

    @property
    def share(self) -> int | None:
        """How much of the budget is spent, in whole %, or None without a budget."""
        return round(100 * self.spent / self.budget) if self.budget else None


def this_month(settings: Any) -> list[Spend]:
    found = []
    for channel in Channel:
        budget = Decimal(str(settings[cost.BUDGET[channel]]))
        spent = cost.spent_this_month(channel.value)
        found.append(Spend(channel, spent, budget if budget > 0 else None, settings["PRICE_CURRENCY"]))
    return found
