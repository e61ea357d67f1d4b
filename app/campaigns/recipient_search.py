"""Finding recipients inside one campaign by any part of their name, their
address as typed or as normalised, or their own text; combined with the
campaign page's status tabs and paging. The same rules as every search box
(app.searching).

A campaign may have a million recipients, so nothing here counts every
match: counts stop at CAP (shown as "1,000+"), and the page count grows as
someone pages past it (app.paging's ``cap``)."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from sqlalchemy import ColumnElement, Select, TextClause, and_, select, text
from sqlalchemy.orm import aliased

from app import paging, searching
from app.campaigns.models import Recipient, RecipientStatus
from app.extensions import db

# Counts of matches stop here: enough to say "1,000+", never a million-row count per keystroke.
CAP = 1000
# How far into a tab (in paste order) a page of many matches is looked for by
# walking it, before the matches are read through the index instead.
WALK = 20_000


def tab_asked(typed: str | None) -> str | None:
    """The status tab a URL asks for (None: All); ValueError when it is not a status."""
    if typed and typed not in set(RecipientStatus):
        raise ValueError(f"Unknown status filter {typed!r}.")
    return typed or None


def tab(campaign_id: int, status: str | None) -> Select:
    """The recipients of a status tab (None: All), in no order."""
    found = select(Recipient).where(Recipient.campaign_id == campaign_id)
    return found.where(Recipient.status == status) if status else found


def chosen(campaign_id: int, status: str | None, q: str, region: str, phones: bool) -> Select:
    """Every recipient the campaign page lists for a tab and a search, on all
    its pages, in paste order: what its Export CSV takes."""
    if not q:
        return tab(campaign_id, status).order_by(Recipient.id)
    return RecipientSearch(campaign_id, q, status, region, phones)._tab().order_by(Recipient.id)


@dataclass(frozen=True)
class Matches:
    """The first CAP + 1 matches PostgreSQL came to (in no order), by status
    tab (None: All), their ids sorted; when ``capped`` there were more than
    CAP, and no tab's count is known (All shows "1,000+")."""

    ids: dict[str | None, list[int]]
    capped: bool

    def of(self, status: str | None) -> int | None:
        """How many of the tab's recipients match, when that is known."""
        return None if self.capped else self.read(status)

    def read(self, status: str | None) -> int:
        """How many of the tab's recipients are among the matches read."""
        return len(self.ids.get(status, []))

    def bound(self, status: str | None, first: int) -> int | None:
        """An id no smaller than that of the tab's ``first``-th match in
        paste order, None when the matches read do not say.

        Any ``first`` matches have ids at least as large as the first
        ``first`` in paste order: so the ``first``-th smallest id read
        bounds them, and usually closely (PostgreSQL comes to rows in the
        order they were written, which is mostly paste order)."""
        ids = self.ids.get(status, [])
        if len(ids) >= first:
            return ids[first - 1]
        if not self.capped:
            return ids[-1] if ids else 0
        return None


@dataclass(frozen=True)
class RecipientSearch:
    campaign_id: int
    q: str
    status: str | None
    # For reading "0712 345" as the start of +254712345…
    region: str
    # The addresses are phone numbers (SMS, WhatsApp), not email addresses.
    phones: bool

    def _matching(self, rows: type[Recipient] = Recipient) -> ColumnElement[bool] | TextClause:
        # ILIKE '%…%' on the indexed expression: the (campaign_id, status,
        # trigrams) index serves it. In a campaign of phone numbers, a
        # number's start, typed as dialled ("0712 34") or as kept
        # ("+25471234"), finds the numbers that start so, as a range of the
        # (campaign_id, address_normalized) index; not the same digits
        # elsewhere (a message quoting a number): digits make trigrams that
        # half the campaign shares, and reading those took 300 ms a search.
        kept = searching.phone_part(self.q, self.region) if self.phones else None
        if kept is None:
            return text(f"{Recipient.SEARCH} ILIKE :pattern").bindparams(pattern=searching.substring_pattern(self.q))
        low, high = searching.prefix_range(kept)
        kept_as = rows.address_normalized
        starts = and_(kept_as >= low, kept_as.like(f"{kept}%"))
        return starts if high is None else and_(starts, kept_as < high)

    def _tab(self) -> Select:
        return tab(self.campaign_id, self.status).where(self._matching())

    def page(self, matches: Matches, found: int, capped: bool, per_page: int) -> paging.Pagination:
        """The page asked for of the tab's matches, in paste order.

        The matches read for the counts bound where that page ends (an id):
        at most CAP matches, they are read through the indexes up to there
        and sorted (ordering by ``id + 0``, which no index serves, keeps
        PostgreSQL from walking the tab in id order instead: it expects an
        early page, and a word common in the campaign but rare in the tab
        would read the whole tab); more, and the tab is walked in id order
        up to there, which stops after the page's rows.

        A page past what the matches read say (page 11 and on, or a tab of
        many matches they hold too few of): the walk reads no further than
        the tab's first WALK recipients, and a page it cannot fill there is
        read through the indexes and sorted. Matches can sit together far
        into a campaign (the numbers that start 0712 3, pasted in order),
        where an unbounded walk would read most of a million rows."""
        pages = max(ceil(found / per_page), 1)
        end = matches.bound(self.status, min(paging.asked_page(), pages) * per_page)
        few = not capped and found <= CAP
        if end is not None or few:
            upto = self._tab() if end is None else self._tab().where(Recipient.id <= end)
            return paging.paginate(
                upto.order_by(Recipient.id + 0 if few else Recipient.id), per_page, found, capped=capped
            )
        walked = paging.paginate(self._first_of_tab(WALK), per_page, found, capped=capped)
        if len(walked.items) == per_page:
            return walked
        return paging.paginate(self._tab().order_by(Recipient.id + 0), per_page, found, capped=capped)

    def _first_of_tab(self, walk: int) -> Select:
        """The matches among the tab's first ``walk`` recipients, in paste order."""
        walked = tab(self.campaign_id, self.status).order_by(Recipient.id).limit(walk)
        first = aliased(Recipient, walked.subquery("first_of_tab"))
        # SEARCH names the columns bare: here they are the walked rows'.
        return select(first).where(self._matching(first)).order_by(first.id)

    def in_tab(self, matches: Matches, per_page: int) -> tuple[int, bool]:
        """How many recipients of the tab match, and whether that count was
        capped (as ``paging.capped_count``)."""
        if (known := matches.of(self.status)) is not None:
            return known, False
        limit = paging.count_limit(per_page, CAP)
        if matches.read(self.status) >= limit:
            # Among the CAP + 1 matches matches() has just read, as many are in
            # this tab as the capped count would stop at.
            return limit, True
        # The tab's own capped count: status is in the index, so a tab with
        # few matches costs no rows read however common the word elsewhere.
        return paging.capped_count(self._tab(), per_page, CAP)

    def matches(self) -> Matches:
        """The counts beside the tabs, and where a page ends: one query over
        at most CAP + 1 matches."""
        found = db.session.execute(
            select(Recipient.id, Recipient.status)
            .where(Recipient.campaign_id == self.campaign_id, self._matching())
            .limit(CAP + 1)
        ).all()
        ids: dict[str | None, list[int]] = {None: [id for id, _ in found]}
        for id, status in found:
            ids.setdefault(status, []).append(id)
        for tab in ids.values():
            tab.sort()
        return Matches(ids, capped=len(found) > CAP)
