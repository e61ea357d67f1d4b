"""The simulated messaging provider: the one designed fake in the system.

It behaves like a real SMS, WhatsApp or email API in the ways that matter to a
dispatcher: each call takes a while, some fail for reasons worth retrying and
some for reasons that never will, and every call carries an idempotency key.
The provider keeps a ledger of the keys it accepted; a repeated key is answered
with the earlier message id and nothing is delivered again.

It accepts a message as soon as the call arrives and answers after its latency,
so a worker killed mid-call leaves a message the provider has and the database
does not know about: exactly what idempotency keys are for.

It also logs when each call arrived, failed ones too, as a provider counts
calls against its rate limit: that log, not when the database recorded an
outcome, is what a measure of the sending rate reads (``Ledger.calls``).
"""

import bisect
import queue
import random
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from app.campaigns.models import ErrorKind


@dataclass(frozen=True)
class ErrorType:
    code: str
    kind: ErrorKind
    message: str


ERRORS = {
    error.code: error
    for error in (
        ErrorType("timeout", ErrorKind.TRANSIENT, "The provider did not answer in time"),
        ErrorType("throttled", ErrorKind.TRANSIENT, "429 Too Many Requests: the provider is throttling us"),
        ErrorType("provider_error", ErrorKind.TRANSIENT, "503 Service Unavailable from the provider"),
        ErrorType("invalid_address", ErrorKind.PERMANENT, "The provider says this number or address does not exist"),
        ErrorType("opted_out", ErrorKind.PERMANENT, "The recipient has blocked or opted out of these messages"),
        ErrorType("rejected_content", ErrorKind.PERMANENT, "The provider rejected the message content"),
    )
}


class ProviderError(Exception):
    """The provider refused or failed to deliver one message."""

    def __init__(self, error: ErrorType) -> None:
        super().__init__(error.message)
        self.code = error.code
        self.kind = error.kind
        self.message = error.message


def error_rates(config: Any) -> dict[str, float]:
    """PROVIDER_ERROR_RATES (``code=rate,…``) if set, else PROVIDER_FAILURE_RATE
    spread evenly over every kind of error."""
    rates = config.get("PROVIDER_ERROR_RATES")
    if rates:
        unknown = set(rates) - set(ERRORS)
        if unknown:
            raise ValueError(f"PROVIDER_ERROR_RATES names unknown errors: {', '.join(sorted(unknown))}")
        return dict(rates)
    share = config["PROVIDER_FAILURE_RATE"] / len(ERRORS)
    return {code: share for code in ERRORS}


# KEYS the keys' ledger entries, then the call log, then the receipts to send.
# For KEYS[i], ARGV[4i - 3] a new message id, or '' to accept nothing,
# ARGV[4i - 2] the text delivered with it, ARGV[4i - 1] when the call arrived
# and ARGV[4i] when its receipt is due ('' for none); then the entries' TTL in
# seconds and how many calls the log keeps. Returns, for each key, the message
# id it is (now) known by, or false (nil).
ACCEPT = """
local calls = #KEYS - 2
local log = KEYS[#KEYS - 1]
local receipts = KEYS[#KEYS]
local ttl = ARGV[4 * calls + 1]
local answers = {}
for i = 1, calls do
  local key = KEYS[i]
  redis.call('ZADD', log, ARGV[4 * i - 1], key .. ' ' .. ARGV[4 * i - 1])
  local known = redis.call('HGET', key, 'message_id')
  if known then
    redis.call('HINCRBY', key, 'requests', 1)
    answers[i] = known
  elseif ARGV[4 * i - 3] == '' then
    answers[i] = false
  else
    redis.call('HSET', key, 'message_id', ARGV[4 * i - 3], 'content', ARGV[4 * i - 2], 'deliveries', 1, 'requests', 1)
    redis.call('EXPIRE', key, ttl)
    if ARGV[4 * i] ~= '' then
      redis.call('ZADD', receipts, ARGV[4 * i], ARGV[4 * i - 3] .. ' ' .. key)
    end
    answers[i] = ARGV[4 * i - 3]
  end
end
redis.call('ZREMRANGEBYRANK', log, 0, -tonumber(ARGV[4 * calls + 2]) - 1)
return answers
"""
LEDGER_PREFIX = "provider:ledger:"
LEDGER_TTL_SECONDS = 7 * 24 * 3600
# Every call's arrival, as a sorted set of "<ledger key> <time>" scored by the
# time; only the newest calls are kept, about 10 MB of them.
CALL_LOG = "provider:calls"
CALL_LOG_LENGTH = 100_000
# The receipts the provider owes, as a sorted set of "<message id> <ledger
# key>" scored by when each is due; jobs.receipts sends them.
RECEIPTS_DUE = "provider:receipts"


class Ledger:
    """The provider's record of accepted idempotency keys, in its own Redis
    (PROVIDER_LEDGER_URL): one script call accepts a key atomically, so two
    workers sending the same key at once still deliver once.

    Calls from many threads go to Redis together, one script call for all that
    are waiting, from one thread: a round trip per message from a hundred
    threads would make the fake, not the dispatcher, the bottleneck.
    """

    BATCH = 500

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._accept = redis.register_script(ACCEPT)
        self._calls: queue.SimpleQueue[tuple[str, str, str, float, float | None, Future[bytes | None]]] = (
            queue.SimpleQueue()
        )
        self._writer = threading.Thread(target=self._write, name="provider-ledger", daemon=True)
        self._writer.start()

    def accept(
        self,
        key: str,
        message_id: str | None,
        content: str = "",
        called_at: float | None = None,
        receipt_at: float | None = None,
    ) -> str | None:
        """The message id ``key`` was accepted under before, else ``message_id``,
        now accepted with ``content`` (what was delivered); None if neither
        (``message_id`` None: a failing call). The call is logged as made at
        ``called_at`` (a Unix time; now if not given). A message accepted now
        owes a receipt at ``receipt_at`` (a Unix time), if given."""
        answer: Future[bytes | None] = Future()
        self._calls.put((key, message_id or "", content, called_at or time.time(), receipt_at, answer))
        known = answer.result()
        return known.decode() if known is not None else None

    def _write(self) -> None:
        while True:
            calls = [self._calls.get()]
            while len(calls) < self.BATCH:
                try:
                    calls.append(self._calls.get_nowait())
                except queue.Empty:
                    break
            try:
                answers = self._accept(
                    keys=[LEDGER_PREFIX + key for key, *_ in calls] + [CALL_LOG, RECEIPTS_DUE],
                    args=[
                        part
                        for _, message_id, content, at, due, _ in calls
                        for part in (message_id, content, repr(at), "" if due is None else repr(due))
                    ]
                    + [LEDGER_TTL_SECONDS, CALL_LOG_LENGTH],
                )
            except RedisError as error:
                for *_, answer in calls:
                    answer.set_exception(error)
                continue
            for (*_, answer), known in zip(calls, answers, strict=True):
                answer.set_result(known)

    def calls(self) -> list[tuple[str, float]]:
        """The logged calls, oldest first: each call's idempotency key and the
        Unix time it arrived."""
        logged: list[tuple[bytes, float]] = self.redis.zrange(CALL_LOG, 0, -1, withscores=True)  # type: ignore[assignment]
        return [(_text(member).rsplit(" ", 1)[0].removeprefix(LEDGER_PREFIX), at) for member, at in logged]

    def entries(self) -> dict[str, dict[str, str]]:
        """Every key the provider holds, with its message id, content, deliveries and requests."""
        found = {}
        for name in self.redis.scan_iter(match=LEDGER_PREFIX + "*", count=1000):
            entry = {_text(k): _text(v) for k, v in self.redis.hgetall(name).items()}
            found[_text(name)[len(LEDGER_PREFIX) :]] = entry
        return found


def most_in_one_second(times: list[float]) -> int:
    """The most of ``times`` (sorted) in any one second, ``(t - 1, t]``."""
    return max((n - bisect.bisect_right(times, at - 1) + 1 for n, at in enumerate(times)), default=0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class SimulatedProvider:
    ledger: Ledger
    latency_min: float = 1.0
    latency_max: float = 3.0
    rates: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    # Seconds after accepting a message that its receipt is due; None sends none.
    receipt_delay: tuple[float, float] | None = None

    @classmethod
    def from_config(cls, config: Any) -> "SimulatedProvider":
        url = config.get("PROVIDER_LEDGER_URL") or config["REDIS_URL"]
        delay = (config["PROVIDER_RECEIPT_DELAY_MIN"], config["PROVIDER_RECEIPT_DELAY_MAX"])
        return cls(
            ledger_at(url),
            config["PROVIDER_LATENCY_MIN"],
            config["PROVIDER_LATENCY_MAX"],
            error_rates(config),
            receipt_delay=delay if config["PROVIDER_RECEIPTS_URL"] else None,
        )

    def send(self, channel: str, address: str, message: str, idempotency_key: str, subject: str | None = None) -> str:
        """Deliver one message (an email with its subject); returns the
        provider's message id or raises ProviderError. The ledger keeps what was
        delivered, as a real provider's log would."""
        called_at = time.time()
        latency = self.rng.uniform(self.latency_min, self.latency_max)
        error = self._pick_error()
        try:
            # A key accepted before gets its first answer again, whatever this call would have done.
            message_id = self.ledger.accept(
                idempotency_key,
                None if error else f"sim-{channel}-{uuid.uuid4().hex}",
                message if subject is None else f"Subject: {subject}\n\n{message}",
                called_at,
                None if self.receipt_delay is None else called_at + self.rng.uniform(*self.receipt_delay),
            )
        except RedisError:
            message_id, error = None, ERRORS["provider_error"]
        if latency > 0:
            time.sleep(latency)
        if message_id is None:
            raise ProviderError(error or ERRORS["provider_error"])
        return message_id

    def _pick_error(self) -> ErrorType | None:
        roll = self.rng.random()
        for code, rate in self.rates.items():
            if roll < rate:
                return ERRORS[code]
            roll -= rate
        return None


@cache
def ledger_at(url: str) -> Ledger:
    """One ledger (and writer thread) per process and Redis."""
    return Ledger(Redis.from_url(url))
