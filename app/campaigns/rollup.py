"""Outcomes counted as they are recorded: by the hour for every channel (the
dashboard) and by the second for each campaign (its charts).

``add`` runs in the transaction that records the outcomes, with the same
tally the metrics count, so a rollback takes both back and an outcome stored
twice is counted once, as it is stored once. An outcome is the status an
attempt (or a skip) left its recipient in: a call that failed and will be
tried again counts as ``retrying`` in its second, and the recipient counts
again when it finally goes. Rows are written in one order (the primary key's),
so two turns adding to the same hour's rows wait for each other rather than
deadlock (a campaign's own seconds are written under its row's lock).
"""

from collections import Counter

from sqlalchemy import text

from app.extensions import db

# One statement for both tables: one round trip on the send path's turn.
_ADD = """
    WITH counted AS (
        SELECT outcome, error_code, messages
        FROM unnest(CAST(:outcomes AS text[]), CAST(:codes AS text[]), CAST(:messages AS int[]))
             AS t(outcome, error_code, messages)
    ), hourly AS (
        INSERT INTO hourly_outcomes (hour, channel, outcome, error_code, messages)
        SELECT date_trunc('hour', now()), CAST(:channel AS text), outcome, error_code, messages
        FROM counted ORDER BY outcome, error_code
        ON CONFLICT (hour, channel, outcome, error_code)
        DO UPDATE SET messages = hourly_outcomes.messages + excluded.messages
    )
    INSERT INTO campaign_seconds (campaign_id, second, outcome, error_code, messages)
    SELECT CAST(:campaign_id AS int), date_trunc('second', now()), outcome, error_code, messages
    FROM counted ORDER BY outcome, error_code
    ON CONFLICT (campaign_id, second, outcome, error_code)
    DO UPDATE SET messages = campaign_seconds.messages + excluded.messages
"""


def add(campaign_id: int, channel: str, outcomes: Counter[tuple[str, str]]) -> None:
    """Count ``outcomes`` (each a status and its error code, "" for none) at
    this transaction's time, for ``channel`` and ``campaign_id``."""
    kept = sorted((+outcomes).items())
    if not kept:
        return
    values = {
        "campaign_id": campaign_id,
        "channel": channel,
        "outcomes": [outcome for (outcome, _), _ in kept],
        "codes": [code for (_, code), _ in kept],
        "messages": [amount for _, amount in kept],
    }
    db.session.execute(text(_ADD), values)


_ADD_HOURLY = """
    INSERT INTO hourly_outcomes (hour, channel, outcome, error_code, messages)
    SELECT date_trunc('hour', now()), CAST(:channel AS text), outcome, error_code, messages
    FROM unnest(CAST(:outcomes AS text[]), CAST(:codes AS text[]), CAST(:messages AS int[]))
         AS t(outcome, error_code, messages)
    ORDER BY outcome, error_code
    ON CONFLICT (hour, channel, outcome, error_code)
    DO UPDATE SET messages = hourly_outcomes.messages + excluded.messages
"""


def add_hourly(channel: str, changes: Counter[tuple[str, str]]) -> None:
    """Add ``changes`` (each an outcome and its error code, "" for none; a
    count that may be negative) to this hour's counts for ``channel``, and not
    to any campaign's seconds: what delivery receipts change, in the hour they
    are applied. A receipt that changes its message's delivery from one state
    to the other moves one message between them."""
    kept = sorted((key, amount) for key, amount in changes.items() if amount)
    if not kept:
        return
    values = {
        "channel": channel,
        "outcomes": [outcome for (outcome, _), _ in kept],
        "codes": [code for (_, code), _ in kept],
        "messages": [amount for _, amount in kept],
    }
    db.session.execute(text(_ADD_HOURLY), values)
