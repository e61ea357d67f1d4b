"""The last hour's provider calls, minute by minute: how many were sent and
failed, and the error codes of the failures, read from the attempts
(``delivery_attempts``) for the Operations page.

Bounded whatever the table's size: only the last hour is read, through a
BRIN index on ``finished_at`` (rows are written in time order), and a minute
is read from the table once. A minute over for GRACE_SECONDS, by when every
attempt made in it has committed, is kept in Redis (``dispatch:outcomes:
minutes``, a field per minute) and read from there after; so each reading
scans the attempts of the last minute or two only, unless Redis has lost
what it kept.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from redis import Redis
from sqlalchemy import text

from app.campaigns.models import AttemptOutcome, lit
from app.extensions import db

MINUTES = 60
# An attempt's finished_at is its transaction's start, and a send loop's
# transaction commits within seconds: a minute this long over is complete.
GRACE_SECONDS = 30
CACHE_KEY = "dispatch:outcomes:minutes"
FAILED = (AttemptOutcome.TRANSIENT, AttemptOutcome.PERMANENT)

BY_MINUTE = f"""
SELECT floor(extract(epoch FROM finished_at) / 60)::bigint AS minute,
       count(*) FILTER (WHERE outcome = {lit(AttemptOutcome.SENT)}) AS sent,
       count(*) FILTER (WHERE outcome IN ({", ".join(lit(o) for o in FAILED)})) AS failed,
       error_code
FROM delivery_attempts
WHERE finished_at >= to_timestamp(:since)
GROUP BY 1, error_code
"""


@dataclass
class Minute:
    """One minute's calls: sent, failed, and the failures by error code."""

    sent: int = 0
    failed: int = 0
    codes: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> str:
        return json.dumps({"sent": self.sent, "failed": self.failed, "codes": self.codes}, separators=(",", ":"))

    @classmethod
    def from_json(cls, value: bytes | str) -> "Minute":
        found = json.loads(value)
        return cls(found["sent"], found["failed"], Counter(found["codes"]))


@dataclass(frozen=True)
class LastHour:
    """The last hour's calls: ``minutes`` oldest first, each with its start
    (Unix seconds), the current minute last."""

    minutes: list[tuple[int, Minute]]

    @property
    def sent(self) -> int:
        return sum(minute.sent for _, minute in self.minutes)

    @property
    def failed(self) -> int:
        return sum(minute.failed for _, minute in self.minutes)

    @property
    def failure_rate(self) -> float | None:
        """Failed calls as a share of sent and failed ones; None when there were none."""
        calls = self.sent + self.failed
        return self.failed / calls if calls else None

    def top_codes(self, count: int = 5) -> list[tuple[str, int]]:
        total: Counter[str] = Counter()
        for _, minute in self.minutes:
            total.update(minute.codes)
        return total.most_common(count)

    @property
    def busiest(self) -> int:
        return max((minute.sent + minute.failed for _, minute in self.minutes), default=0)


def last_hour(client: Redis, now_epoch: float | None = None) -> LastHour:
    """The last MINUTES minutes' calls, the current one included. Reads in
    the caller's transaction; raises RedisError or SQLAlchemyError."""
    now_epoch = time.time() if now_epoch is None else now_epoch
    current = int(now_epoch // 60)
    wanted = list(range(current - MINUTES + 1, current + 1))
    kept = client.hmget(CACHE_KEY, [str(minute) for minute in wanted])
    minutes = {minute: Minute.from_json(value) for minute, value in zip(wanted, kept, strict=True) if value}
    missing = [minute for minute in wanted if minute not in minutes]
    if missing:
        read = _read(missing[0] * 60)
        minutes.update({minute: read.get(minute, Minute()) for minute in missing})
        over = {minute: minutes[minute] for minute in missing if (minute + 1) * 60 + GRACE_SECONDS <= now_epoch}
        if over:  # about once a minute: the hour moved on, so its oldest minutes go
            _keep(client, over)
            _forget_before(client, wanted[0])
    return LastHour([(minute * 60, minutes[minute]) for minute in wanted])


def _read(since_epoch: int) -> dict[int, Minute]:
    found: dict[int, Minute] = {}
    for minute, sent, failed, code in db.session.execute(text(BY_MINUTE), {"since": since_epoch}):
        each = found.setdefault(minute, Minute())
        each.sent += sent
        each.failed += failed
        if code is not None and failed:
            each.codes[code] += failed
    return found


def _keep(client: Redis, minutes: dict[int, Minute]) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.hset(CACHE_KEY, mapping={str(minute): each.as_json() for minute, each in minutes.items()})
    pipe.expire(CACHE_KEY, 2 * MINUTES * 60)
    pipe.execute()


def _forget_before(client: Redis, first: int) -> None:
    old = [name for name in client.hkeys(CACHE_KEY) if int(name) < first]
    if old:
        client.hdel(CACHE_KEY, *old)
