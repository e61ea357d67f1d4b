"""Importing a confirmed contacts file (``app.contacts.importing``): queued by
the import's Start button, by id, after its ``queued`` status is committed."""

from app.contacts import importing


def import_contacts(import_id: int) -> str:
    """Import every row not yet done; runs in the worker's app context. Run
    again after a worker died, it resumes at the last committed batch."""
    return importing.run(import_id)
