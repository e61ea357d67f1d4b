"""How a send job shares its sends in flight among the campaigns it serves.

A worker process's concurrency is the provider's capacity, not a campaign's:
a job sends for every campaign that has recipients queued (``jobs.send``), and
each loop turn gives each campaign a target share of the job's slots. A
campaign under its target may claim up to it, within the slots free; one over
it (it had the job to itself until another arrived) claims nothing until its
calls come back below it, so a campaign started behind a large one gets its
share within one provider call.

Two ways to set the targets (``DISPATCH_SHARING``):

- ``round-robin``: equal shares. With more campaigns than slots, the slots go
  to a different few each turn, in turn.
- ``by-size``: shares in proportion to what each campaign still has to send,
  at least one slot each, so a large campaign is not slowed to a small one's
  pace, and a small one still moves.

Pure functions of counts: a turn's shares are cheap and testable on their own.
"""

from collections.abc import Sequence
from dataclasses import dataclass

ROUND_ROBIN = "round-robin"
BY_SIZE = "by-size"
MODES = (ROUND_ROBIN, BY_SIZE)


@dataclass(frozen=True)
class Load:
    """One campaign's load in a job: its calls in flight (or waiting for a new
    turn), and how many recipients it had queued when last looked at."""

    in_flight: int
    remaining: int


def targets(concurrency: int, loads: Sequence[Load], mode: str, turn: int) -> list[int]:
    """Each campaign's share of ``concurrency`` slots, summing to it; ``turn``
    rotates who gets the slots that do not divide evenly."""
    if mode not in MODES:
        raise ValueError(f"DISPATCH_SHARING is {mode!r}; it may be {' or '.join(MODES)}")
    count = len(loads)
    if not count:
        return []
    if mode == BY_SIZE:
        return _by_size(concurrency, [max(load.remaining, 1) for load in loads], turn)
    base, extra = divmod(concurrency, count)
    shares = [base] * count
    for n in range(extra):
        shares[(turn + n) % count] += 1
    return shares


def _by_size(concurrency: int, weights: list[int], turn: int) -> list[int]:
    """Shares in proportion to ``weights``, at least one each while slots last
    (largest remainders get the slots left over, ties in turn)."""
    count, total = len(weights), sum(weights)
    if concurrency <= count:
        shares = [0] * count
        for n in range(concurrency):
            shares[(turn + n) % count] = 1
        return shares
    # One each first, then the rest by weight.
    spare = concurrency - count
    exact = [spare * weight / total for weight in weights]
    shares = [1 + int(part) for part in exact]
    left = concurrency - sum(shares)
    order = sorted(range(count), key=lambda i: (-(exact[i] - int(exact[i])), (i - turn) % count))
    for i in order[:left]:
        shares[i] += 1
    return shares


def wanted(free: int, loads: Sequence[Load], shares: Sequence[int], turn: int) -> list[int]:
    """How many each campaign may claim now: up to its share less what it has
    in flight, and ``free`` slots in all, handed out from a different
    campaign each turn when they run short."""
    count = len(loads)
    wants = [max(share - load.in_flight, 0) for share, load in zip(shares, loads, strict=True)]
    given = [0] * count
    for n in range(count):
        i = (turn + n) % count
        given[i] = min(wants[i], free)
        free -= given[i]
    return given


def split(granted: int, wants: Sequence[int], turn: int) -> list[int]:
    """``granted`` claims (a channel's rate allowed fewer than wanted) shared
    among ``wants``: one at a time, round the campaigns, from a different one each turn."""
    given = [0] * len(wants)
    if granted >= sum(wants):
        return list(wants)
    while granted > 0:
        for n in range(len(wants)):
            i = (turn + n) % len(wants)
            if granted and given[i] < wants[i]:
                given[i] += 1
                granted -= 1
    return given
