"""The reconciler: the database is the truth, and this makes Redis and the
workers agree with it again.

    python -m jobs.reconciler

Every RECONCILE_SECONDS it puts back recipients whose worker died mid-send
(their lease expired), completes campaigns that have nothing left, enqueues a
send job for every sending campaign that is owed work and has no job queued
or running, and queues again a contacts import, or a change to many
contacts, whose job stopped writing;
once an hour it removes uploads never imported and expired idempotency keys.
Its tasks, their intervals and how its loop recovers from an outage are in
``jobs.periodic``. The Procfile runs one; more are safe, since every change
is guarded and each task runs in one of them at a time.
"""

from jobs import periodic

if __name__ == "__main__":
    periodic.main("reconciler")
