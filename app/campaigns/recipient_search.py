"""Finding recipients inside one campaign by any part of their name, their
address as typed or as normalised, or their own text; combined with the
campaign page's status tabs and paging. The same rules as every search box
(app.searching).

A campaign may have a million recipients, so nothing here counts every
match: counts stop at CAP (shown as "1,000+"), and the page count grows as
someone pages past it (app.paging's ``cap``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, or_, select, text

from app import paging, searching
from app.campaigns.models import Recipient
from app.extensions import db

# Counts of matches stop here: enough to say "1,000+", never a million-row count per keystroke.
CAP = 1000


@dataclass(frozen=True)
class Matches:
    """How many recipients match in each status tab (None: All), among the
    first CAP + 1 matches; when ``capped`` there were more than CAP, and no
    tab's count is known (All shows "1,000+")."""

    counts: dict[str | None, int]
    capped: bool

    def of(self, status: str | None) -> int | None:
        if self.capped:
            return None
        return self.counts.get(status, 0)


@dataclass(frozen=True)
class RecipientSearch:
    campaign_id: int
    q: str
    status: str | None
    # For reading "0712 345" as the start of +254712345…
    region: str

    def _matching(self) -> ColumnElement[bool]:
        # ILIKE '%…%' on the indexed expression: the (campaign_id, trigrams)
        # index serves each pattern; a phone typed as dialled is looked for as
        # it is kept too.
        patterns = [self.q]
        if (kept := searching.phone_part(self.q, self.region)) and kept != self.q:
            patterns.append(kept)
        return or_(
            *(
                text(f"{Recipient.SEARCH} ILIKE :pattern_{i}").bindparams(
                    **{f"pattern_{i}": searching.substring_pattern(typed)}
                )
                for i, typed in enumerate(patterns)
            )
        )

    def _tab(self) -> Select:
        found = select(Recipient).where(Recipient.campaign_id == self.campaign_id, self._matching())
        if self.status:
            found = found.where(Recipient.status == self.status)
        return found

    def query(self, few: bool) -> Select:
        """The matching recipients of the tab, in paste order.

        ``few``: the tab holds at most CAP matches. They are then read from
        the trigram index and sorted (ordering by ``id + 0``, which no index
        serves, keeps PostgreSQL from walking the tab in id order instead:
        it expects an early page, and a word common in the campaign but
        rare in the tab would read the whole tab). Otherwise matches are
        dense enough that walking the tab in id order stops early."""
        return self._tab().order_by(Recipient.id + 0 if few else Recipient.id)

    def in_tab(self, matches: Matches, per_page: int) -> tuple[int, bool]:
        """How many recipients of the tab match, and whether that count was
        capped (as ``paging.capped_count``)."""
        if (known := matches.of(self.status)) is not None:
            return known, False
        limit = paging.count_limit(per_page, CAP)
        if matches.counts.get(self.status, 0) >= limit:
            # Among the CAP + 1 matches matches() has just read, as many are in
            # this tab as the capped count would stop at.
            return limit, True
        # The tab's own capped count: status is in the index, so a tab with
        # few matches costs no rows read however common the word elsewhere.
        return paging.capped_count(self._tab(), per_page, CAP)

    def matches(self) -> Matches:
        """The counts beside the tabs: one query over at most CAP + 1 matches."""
        first = (
            select(Recipient.status)
            .where(Recipient.campaign_id == self.campaign_id, self._matching())
            .limit(CAP + 1)
            .subquery()
        )
        counts: dict[str | None, int] = {
            status: number
            for status, number in db.session.execute(select(first.c.status, func.count()).group_by(first.c.status))
        }
        total = sum(counts.values())
        counts[None] = total
        return Matches(counts, capped=total > CAP)
