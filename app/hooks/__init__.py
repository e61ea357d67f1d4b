"""Webhooks to other systems: endpoints admins register, and each event of a
campaign or an import POSTed to them, signed, from an outbox written in the
transaction of the change (``outbox``), by a job (``delivery``, ``sending``)."""
