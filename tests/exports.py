"""Reading exported CSV files in tests, and the rows they should hold, read
from the database by the tests' own rules."""

import csv
import io
from datetime import UTC

from sqlalchemy import select, text

from app.campaigns.models import Recipient
from app.extensions import db

HEADER = [
    "line", "name", "address", "sends_to", "message", "status", "attempts", "error_code", "last_error",
    "provider_message_id", "delivery", "delivery_at", "delivery_reason", "created_at", "last_attempt_at", "sent_at",
]  # fmt: skip
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
BOM = b"\xef\xbb\xbf"


def rows_of(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM), body[:20]
    return list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"), newline="")))


def iso(at) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if at else ""


def sent_through(campaign) -> None:
    """Recipients in three states, with what each state leaves on the row."""
    db.session.execute(
        text(
            """
            UPDATE recipients SET
              status = CASE line % 3 WHEN 0 THEN 'failed' WHEN 1 THEN 'sent' ELSE 'queued' END,
              attempts = CASE WHEN line % 3 = 2 THEN 0 ELSE line % 3 + 1 END,
              attempt_started_at = CASE WHEN line % 3 <> 2 THEN now() - interval '90 seconds' END,
              finished_at = CASE WHEN line % 3 <> 2 THEN now() END,
              error_code = CASE WHEN line % 3 = 0 THEN 'invalid_address' END,
              last_error = CASE WHEN line % 3 = 0 THEN 'The provider refused the address' END,
              provider_message_id = CASE WHEN line % 3 = 1 THEN 'msg-' || line END,
              delivery = CASE WHEN line % 6 = 1 THEN 'delivered' WHEN line % 6 = 4 THEN 'undelivered' END,
              delivery_at = CASE WHEN line % 3 = 1 THEN now() END,
              delivery_error = CASE WHEN line % 6 = 4 THEN 'Mailbox full' END,
              rendered_content = CASE WHEN line % 2 = 0 THEN 'Hi Person ' || line || ', à bientôt' END
            WHERE campaign_id = :id
            """
        ),
        {"id": campaign.id},
    )
    db.session.commit()


def in_database(campaign, status: str | None = None, q: str = "") -> list[list[str]]:
    """The rows the file should hold, read from the rows themselves."""
    db.session.expire_all()
    found = db.session.scalars(select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id))
    rows = []
    for r in found:
        searched = " ".join([r.name, r.address, r.address_normalized, r.rendered_content or ""]).lower()
        if (status and r.status != status) or q.lower() not in searched:
            continue
        rows.append(
            [
                str(r.line), r.name, r.address, r.address_normalized, r.content(campaign), r.status, str(r.attempts),
                r.error_code or "", r.last_error or "", r.provider_message_id or "", r.delivery or "",
                iso(r.delivery_at), r.delivery_error or "", iso(r.created_at), iso(r.attempt_started_at),
                iso(r.finished_at) if r.status == "sent" else "",
            ]
        )  # fmt: skip
    return rows
