"""The scheduler: starts scheduled campaigns when their time comes.

    python -m jobs.scheduler

Every SCHEDULER_INTERVAL_SECONDS (``scheduling.start_due``): each due
campaign is taken with ``FOR UPDATE SKIP LOCKED`` and started by the same
guarded change as Start, so several schedulers are safe and none starts a
campaign twice. Its truth is PostgreSQL: if it was stopped, or the database
unreachable, when a campaign fell due, the next pass starts it and the
history says how late. Its loop, and why it is a process of its own, are in
``jobs.periodic``.
"""

from jobs import periodic

if __name__ == "__main__":
    periodic.main("scheduler")
