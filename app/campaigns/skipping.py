"""Recipients not sent to because their address opted out of the campaign's
channel: Start marks them ``skipped`` (and a send's claim does too, in
``delivery``), and a draft's Start dialog counts them beforehand."""

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import text

from app import metrics
from app.campaigns import rollup
from app.campaigns.models import RecipientStatus, lit
from app.extensions import db
from app.messaging import length
from app.messaging.channels import Channel
from app.optouts import registry as opt_outs

R = RecipientStatus
# The error code a skipped recipient is stored with.
SKIPPED_CODE = "opted_out"


def skipped_reason(channel: str) -> str:
    return f"Not sent: this address opted out of {Channel(channel).label} messages."


@dataclass(frozen=True)
class Skipped:
    """A draft's recipients who would be skipped if it started now."""

    recipients: int
    segments: int  # SMS segments their texts would have taken; 0 on other channels


def among(campaign_id: int, channel: str, message: str) -> Skipped:
    """Count the queued recipients of a campaign whose address is opted out."""
    rows = db.session.execute(
        text(
            f"SELECT rendered_content FROM recipients AS r WHERE r.campaign_id = :id AND r.status = {lit(R.QUEUED)} "
            f"AND {opt_outs.opted_out(':channel', 'r.address_normalized')}"
        ),
        {"id": campaign_id, "channel": channel},
    ).scalars()
    texts = list(rows)
    segments = 0
    if channel == Channel.SMS:
        segments = sum(
            length.measure(content if content is not None else message, Channel.SMS).segments for content in texts
        )
    return Skipped(len(texts), segments)


def skip(campaign_id: int, channel: str) -> int:
    """Mark the queued recipients whose address is opted out ``skipped``; how many.
    The caller adds them to the campaign's counters."""
    skipped: int = db.session.execute(  # type: ignore[attr-defined]
        text(
            f"""
            UPDATE recipients AS r
            SET status = {lit(R.SKIPPED)}, error_code = :code, last_error = :reason,
                finished_at = now(), updated_at = now()
            WHERE r.campaign_id = :id AND r.status = {lit(R.QUEUED)}
              AND {opt_outs.opted_out(":channel", "r.address_normalized")}
            """
        ),
        {"id": campaign_id, "channel": channel, "code": SKIPPED_CODE, "reason": skipped_reason(channel)},
    ).rowcount
    tally = Counter({(R.SKIPPED.value, SKIPPED_CODE): skipped})
    rollup.add(campaign_id, channel, tally)
    metrics.count_messages_on_commit(db.session(), channel, tally)
    return skipped
