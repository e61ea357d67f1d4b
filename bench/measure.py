"""What every figure is measured with: percentiles, one timed HTTP request,
and the row a figure prints."""

import statistics
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

T = TypeVar("T")


def percentile(values: list[float], percent: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


class Timed(NamedTuple):
    ms: float
    body: bytes


def timed_request(
    url: str,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    opener: urllib.request.OpenerDirector | None = None,
    expect: int = 200,
) -> Timed:
    """A GET (a POST of ``data``) timed from sending it to the last byte of
    its answer, which must have the status ``expect``. ``opener`` carries a
    session's cookies; without it none are sent (a token's requests)."""
    request = urllib.request.Request(url, data=data, headers=headers or {})
    started = time.perf_counter()
    with (opener.open if opener else urllib.request.urlopen)(request, timeout=120) as answer:
        body = answer.read()
        status = answer.status
    elapsed = (time.perf_counter() - started) * 1000
    assert status == expect, f"{url} answered {status}, not {expect}: {body[:500]!r}"
    return Timed(elapsed, body)


def warm_then_time(timed: Callable[[T], float], requests: list[T], rounds: int) -> list[float]:
    """Each request once to warm the caches, left out; then ``rounds`` rounds
    of them all, timed: the times, sorted."""
    for request in requests:
        timed(request)
    return sorted(timed(request) for _ in range(rounds) for request in requests)


@dataclass(frozen=True)
class Row:
    """One printed line of a run: what was measured with this run's sizes,
    what it came to with its details, and the results key whose target it is
    held to (bench/figures.py)."""

    figure: str
    measured: str
    key: str
