"""Who has opted out of what, and the one test every send passes through.

An address is opted out of one channel: SMS and WhatsApp are separate lists,
though both hold phone numbers. Staff add and remove entries, an import can
add them, the provider's permanent ``opted_out`` answer adds one in the
transaction that stores the answer (``app.campaigns.delivery``), and so does a
STOP reply (``reply``). Every addition and removal is in the history.

``opted_out`` is the SQL test: Start marks the recipients it matches
``skipped`` (``app.campaigns.skipping``), and so does each claim, in the
claiming statement, so an opt-out committed while a campaign sends stops
every later send to that address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import Select, delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert

from app import audit, searching
from app.audit import Action, Via
from app.extensions import db
from app.messaging.addresses import normalize_address
from app.messaging.channels import Channel
from app.optouts.models import OptOut, Source
from app.searching import substring_pattern

if TYPE_CHECKING:
    from app.auth.models import User


def opted_out(channel: str, address: str) -> str:
    """SQL: whether ``address`` (an expression) is opted out of ``channel``
    (another). The one test: a send's claim, Start, a draft's count of those
    it would skip, and a contact (``contact_opted_out``) all ask it."""
    return f"EXISTS (SELECT 1 FROM opt_outs AS o WHERE o.channel = {channel} AND o.address = {address})"


def contact_opted_out(contact: str, channel: str | None = None) -> str:
    """SQL: whether the contact row ``contact`` (a table or alias with the
    contacts' columns) is opted out of ``channel``, through the address that
    channel sends to (``Channel.contact_field``); None: of any channel."""
    channels = list(Channel) if channel is None else [Channel(channel)]
    return "(" + " OR ".join(opted_out(f"'{c.value}'", f"{contact}.{c.contact_field}") for c in channels) + ")"


# A reply that is one of these words, in any case, opts the sender out; START opts them back in.
STOP_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START"})


def normalize(channel: str, typed: str) -> str:
    """The address as it is kept; ValueError says what is wrong with it."""
    return normalize_address(typed.strip(), Channel(channel), current_app.config["DEFAULT_REGION"])


def add(
    channel: str,
    address: str,
    source: Source,
    *,
    actor: User | None = None,
    via: Via = Via.WEB,
    note: str = "",
    campaign_id: int | None = None,
    contact_id: int | None = None,
) -> bool:
    """Opt ``address`` (normalised) out of ``channel``; False if it already was.
    ``contact_id``, the contact with that address, has it in their history.
    The caller commits."""
    added = db.session.execute(
        insert(OptOut)
        .values(
            channel=channel,
            address=address,
            source=source.value,
            note=note,
            created_by_id=actor.id if actor is not None else None,
            campaign_id=campaign_id,
        )
        .on_conflict_do_nothing(constraint="opt_outs_one_per_address")
        .returning(OptOut.id)
    ).scalar_one_or_none()
    if added is not None:
        detail = f"{source.label.lower()}{': ' + note if note else ''}"
        _record(Action.OPT_OUT_ADDED, channel, address, actor, via, detail, contact_id)
    return added is not None


def add_many(entries: list[tuple[str, str]], source: Source, note: str = "") -> int:
    """Opt each ``(channel, address)`` out, in one statement (an import's
    column); how many were not already. The import's own history event
    counts them, rather than one event each."""
    if not entries:
        return 0
    return len(
        db.session.execute(
            text(
                "INSERT INTO opt_outs (channel, address, source, note) "
                "SELECT c, a, :source, :note "
                "FROM unnest(CAST(:channels AS text[]), CAST(:addresses AS text[])) AS e(c, a) "
                "ON CONFLICT ON CONSTRAINT opt_outs_one_per_address DO NOTHING RETURNING id"
            ),
            {
                "channels": [c for c, _ in entries],
                "addresses": [a for _, a in entries],
                "source": source.value,
                "note": note,
            },
        ).all()
    )


def remove(
    channel: str,
    address: str,
    *,
    actor: User | None = None,
    via: Via = Via.WEB,
    why: str = "",
    contact_id: int | None = None,
) -> bool:
    """Opt ``address`` back in to ``channel``; False if it was not opted out.
    ``contact_id``, the contact with that address, has it in their history."""
    removed = db.session.execute(
        delete(OptOut).where(OptOut.channel == channel, OptOut.address == address).returning(OptOut.id)
    ).scalar_one_or_none()
    if removed is not None:
        _record(Action.OPT_OUT_REMOVED, channel, address, actor, via, why, contact_id)
    return removed is not None


def _record(
    action: Action, channel: str, address: str, actor: User | None, via: Via, detail: str, contact_id: int | None
) -> None:
    what = f"{Channel(channel).label} {address}"
    audit.record(action, actor=actor, via=via, contact_id=contact_id, detail=f"{what}{', ' + detail if detail else ''}")


def reply(channel: str, address: str, body: str, contact_id: int | None = None) -> str:
    """A message someone sent us (``contact_id``, if they are a contact): STOP
    and its synonyms opt them out of the channel it came on, START opts them
    back in. Returns what was done: ``opted_out``, ``opted_in`` or ``none``.
    The caller commits."""
    word = body.strip().upper()
    if word in STOP_WORDS:
        add(channel, address, Source.REPLY, via=Via.INBOUND, note=f"replied {word}", contact_id=contact_id)
        return "opted_out"
    if word in START_WORDS:
        remove(channel, address, via=Via.INBOUND, why=f"replied {word}", contact_id=contact_id)
        return "opted_in"
    return "none"


def of_contact(phone: str | None, email: str | None) -> list[OptOut]:
    """A contact's opt-outs: on each channel, of the address it sends to
    (``Channel.contact_field``), as ``contact_opted_out`` tests them."""
    addresses = {"phone": phone, "email": email}
    keys = [(c.value, address) for c in Channel if (address := addresses[c.contact_field])]
    if not keys:
        return []
    found = select(OptOut).where(tuple_(OptOut.channel, OptOut.address).in_(keys)).order_by(OptOut.channel)
    return list(db.session.scalars(found))


@dataclass(frozen=True)
class Filters:
    q: str = ""
    channel: str = ""
    # What in the URL was not understood, and so ignored, said to the reader.
    ignored: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """What ``/opt-outs?q=…&channel=…`` asks for; a channel not known is named and ignored."""
        said: list[str] = []
        channels = {channel.value: channel.label for channel in Channel}
        channel = searching.choice(args, "channel", channels, said)
        return cls(q=(args.get("q") or "").strip()[:320], channel=channel, ignored=tuple(said))

    def query(self) -> Select:
        query = select(OptOut)
        if self.q:
            query = query.where(OptOut.address.ilike(substring_pattern(self.q)))
        if self.channel in set(Channel):
            query = query.where(OptOut.channel == self.channel)
        return query.order_by(OptOut.created_at.desc(), OptOut.id.desc())
