"""A per-channel send rate shared by every worker process, kept in Redis.

A token bucket: it fills at ``rate`` tokens a second up to ``capacity``, and a
send costs one token. The bucket lives in one Redis hash and is changed by one
Lua script, so workers on any number of machines draw from the same bucket
without racing, and the clock is Redis's own (``TIME``), not each machine's.
"""

from dataclasses import dataclass

from redis import Redis

# KEYS[1] the bucket; ARGV rate (tokens/s), capacity, tokens wanted.
# Returns {tokens granted, milliseconds until the next token}.
TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
local wait_ms = 0
if tokens < 1 then wait_ms = math.ceil((1 - tokens) / rate * 1000) end
return {granted, wait_ms}
"""


@dataclass(frozen=True)
class Grant:
    granted: int
    retry_in: float  # seconds until at least one more token, 0 when one is there now


class SendRate:
    """The send rate of one channel: ``take(n)`` grants up to ``n`` sends now.

    A rate of 0 means no limit. The capacity (the largest burst) is a tenth of a
    second's worth of sends, at least one, so the rate holds over short windows
    too and a burst after an idle spell stays small.
    """

    def __init__(self, redis: Redis, channel: str, per_second: float) -> None:
        self.per_second = per_second
        self.capacity = max(1.0, per_second / 10)
        self.key = f"ratelimit:{channel}"
        self._take = redis.register_script(TAKE)

    @property
    def limited(self) -> bool:
        return self.per_second > 0

    def take(self, wanted: int) -> Grant:
        if not self.limited or wanted <= 0:
            return Grant(max(wanted, 0), 0.0)
        granted, wait_ms = self._take(keys=[self.key], args=[self.per_second, self.capacity, wanted])
        return Grant(int(granted), int(wait_ms) / 1000)
