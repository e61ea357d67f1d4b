"""Outcomes counted as they are recorded: by the hour for every channel (the
dashboard) and by the second for each campaign (its charts).

``add`` runs in the transaction that records the outcomes, with the same
tally the metrics count, so a rollback takes both back and an outcome stored
twice is counted once, as it is stored once. An outcome is the status an
attempt (or a skip) left its recipient in: a call that failed and will be
tried again counts as ``retrying`` in its second, and the recipient counts
again when it finally goes. Rows are written in one order (the primary key's),
so two turns adding to the same rows wait for each other rather than deadlock.
"""

from collections import Counter

from sqlalchemy import text

from app.extensions import db

_UPSERT = """
    INSERT INTO {table} ({key}, outcome, error_code, messages)
    SELECT {key_value}, outcome, error_code, messages
    FROM unnest(CAST(:outcomes AS text[]), CAST(:codes AS text[]), CAST(:messages AS int[]))
         AS t(outcome, error_code, messages)
    ORDER BY outcome, error_code
    ON CONFLICT ({key}, outcome, error_code) DO UPDATE SET messages = {table}.messages + excluded.messages
"""
_HOURLY = _UPSERT.format(
    table="hourly_outcomes", key="hour, channel", key_value="date_trunc('hour', now()), CAST(:channel AS text)"
)
_SECONDS = _UPSERT.format(
    table="campaign_seconds",
    key="campaign_id, second",
    key_value="CAST(:campaign_id AS int), date_trunc('second', now())",
)


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
    db.session.execute(text(_HOURLY), values)
    db.session.execute(text(_SECONDS), values)
