"""Whether a send job's campaign has stopped sending (paused or cancelled),
asked by each provider call just before it is made.

A job's loop turn reads the campaign row, and claims nothing once it is no
longer ``sending``; but calls already claimed may be waiting for their turn in
the channel's schedule, or be just about to start, when Pause commits. Those
must not be made: their recipients go back to the queue (``delivery.advance``
releases them), and only calls the provider already has finish.

So each call looks first. The job's own loop knows within a turn; between
turns, the campaign's version at its last committed stop, which
``app.campaigns.live.show_campaign_change`` notes in Redis
(``jobqueue.note_halted``), says whether it stopped after the job last found
it sending. That read is shared: one Redis round trip answers every call that
asked before it started (``SharedRead``), not one per call from a hundred
threads.
"""

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from redis import Redis
from redis.exceptions import RedisError

from app import jobqueue

T = TypeVar("T")


class SharedRead(Generic[T]):
    """``read()`` made by many threads, once for all that ask while another
    read is in flight: each caller gets the answer of a read that started
    after it asked, never an older one."""

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._lock = threading.Lock()
        # One read at a time; callers meanwhile gather for the next.
        self._reading = threading.Lock()
        self._next: Future[T] | None = None

    def __call__(self) -> T:
        with self._lock:
            leads = self._next is None
            if leads:
                self._next = Future()
            mine = self._next
        assert mine is not None
        if leads:
            with self._reading:
                with self._lock:
                    # Whoever asks from now on waits for a read that starts after them.
                    self._next = None
                try:
                    mine.set_result(self._read())
                except BaseException as error:
                    mine.set_exception(error)
        return mine.result()


class Halt:
    """One send job's knowledge that its campaign stopped sending."""

    def __init__(self, connection: Redis, campaign_id: int) -> None:
        self._stopped = threading.Event()
        # The campaign row's version when the job last found it sending: a
        # stop noted at a later version happened since.
        self._since = 0
        self._noted = SharedRead(lambda: jobqueue.halted_at(connection, campaign_id))

    def sending_at(self, version: int) -> None:
        """A loop turn found the campaign sending, as of ``version``."""
        self._since = version

    def set(self) -> None:
        """A loop turn found the campaign no longer sending."""
        self._stopped.set()

    def is_set(self) -> bool:
        return self._stopped.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once if the job learns the campaign stopped; whether it did."""
        return self._stopped.wait(seconds)

    def stopped(self) -> bool:
        """Whether the campaign stopped sending, asked of Redis now. Unreachable,
        the loop's own turns (each reads the campaign row) still stop the job."""
        if self._stopped.is_set():
            return True
        try:
            noted = self._noted()
        except RedisError:
            return False
        if noted is not None and noted > self._since:
            self._stopped.set()
        return self._stopped.is_set()
