"""A per-channel send rate shared by every worker process, kept in Redis.

Two parts, each one Lua script on Redis's own clock (``TIME``), so workers on
any number of machines share them without racing and without trusting their
own clocks:

- A token bucket paces the claims. It fills at ``rate`` tokens a second up to
  ``capacity``, and a send job claims only as many recipients as it is granted
  tokens, so it never holds more than a moment's sends.
- A schedule spaces the calls. Every claimed recipient is given its own turn,
  ``1 / rate`` after the channel's previous one, whichever process asks; its
  provider call waits for that turn. A provider that allows ``rate`` a second
  counts calls in any one second, not on average: with calls a whole interval
  apart, no second holds more than ``rate`` of them. A call whose thread wakes
  more than half an interval after its turn (a process the machine left
  waiting) is not made then, beside the next turn's call, but takes a new turn.

The bucket alone started calls as soon as their claim committed: a second's
worth plus the bucket's capacity went out in the first second, and a claim whose
transaction took long sent its calls late, bunched with the next claims', 17 %
over the limit in one second as the provider saw it.
"""

import math
from dataclasses import dataclass

from redis import Redis

# KEYS[1] the bucket; ARGV rate (tokens/s), capacity, tokens wanted (less
# than 0: that many given back, up to the capacity).
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
local granted = 0
if wanted < 0 then
  tokens = math.min(capacity, tokens - wanted)
else
  granted = math.min(wanted, math.floor(tokens))
  tokens = tokens - granted
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 60000)
local wait_ms = 0
if tokens < 1 then wait_ms = math.ceil((1 - tokens) / rate * 1000) end
return {granted, wait_ms}
"""

# KEYS[1] the schedule: when the channel's next call may start. ARGV seconds
# between calls, calls. Returns the seconds from now to the first call's turn
# (a string: Redis would cut a Lua number to an integer); the others follow it
# an interval apart. An idle channel's next turn is now.
SCHEDULE = """
local interval = tonumber(ARGV[1])
local calls = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local first = math.max(now, tonumber(redis.call('GET', KEYS[1])) or now)
local after = first + calls * interval
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX', math.ceil((after - now) * 1000) + 60000)
return string.format('%.6f', first - now)
"""


# Seconds a call may start after its turn, whatever the rate: 5 ms at 200 /s
# and above, where half an interval is less, adds at most 1 % to a second.
MIN_LATENESS = 0.005


@dataclass(frozen=True)
class Grant:
    granted: int
    retry_in: float  # seconds until at least one more token, 0 when one is there now


@dataclass(frozen=True)
class Turns:
    """When each of a batch of calls may start, as seconds after it was asked,
    and how late after its turn a call may still start."""

    first_in: float
    interval: float
    late_after: float = math.inf

    def wait(self, n: int) -> float:
        return self.first_in + n * self.interval


class SendRate:
    """The send rate of one channel: ``take(n)`` grants up to ``n`` claims now,
    ``give_back(n)`` returns tokens a claim did not turn into calls (a
    recipient skipped as opted out, a claim that found fewer rows), and
    ``turns(n)`` schedules ``n`` claimed calls.

    A rate of 0 means no limit. The capacity (the largest burst of claims) is a
    tenth of a second's worth of sends, at least one, so a job claims in
    batches, and its calls never wait long for their turns.
    """

    def __init__(self, redis: Redis, channel: str, per_second: float) -> None:
        self.per_second = per_second
        self.capacity = max(1.0, per_second / 10)
        self.key = f"ratelimit:{channel}"
        self.schedule_key = f"ratelimit:{channel}:next-call"
        self._take = redis.register_script(TAKE)
        self._schedule = redis.register_script(SCHEDULE)

    @property
    def limited(self) -> bool:
        return self.per_second > 0

    def take(self, wanted: int) -> Grant:
        if not self.limited or wanted <= 0:
            return Grant(max(wanted, 0), 0.0)
        granted, wait_ms = self._take(keys=[self.key], args=[self.per_second, self.capacity, wanted])
        return Grant(int(granted), int(wait_ms) / 1000)

    def give_back(self, unused: int) -> Grant:
        """Return ``unused`` tokens, up to the capacity: a token is a provider
        call, and one spent on a recipient that is not called would slow the
        channel below its rate (a tenth of the recipients opted out, a tenth
        slower). The grant says when the next token is due (0: one is there now)."""
        if not self.limited or unused <= 0:
            return Grant(0, 0.0)
        _, wait_ms = self._take(keys=[self.key], args=[self.per_second, self.capacity, -unused])
        return Grant(0, int(wait_ms) / 1000)

    def turns(self, calls: int) -> Turns:
        if not self.limited or calls <= 0:
            return Turns(0.0, 0.0)
        interval = 1 / self.per_second
        first_in = self._schedule(keys=[self.schedule_key], args=[repr(interval), calls])
        # Half an interval keeps a late call clear of the next turn's; at high
        # rates a few milliseconds, a thread's usual lateness, are let through.
        return Turns(float(first_in), interval, max(interval / 2, MIN_LATENESS))
