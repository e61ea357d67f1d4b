"""A change to many contacts (``app.campaigns.bulk_contacts``): queued by its
confirmation, by id, after the change is committed."""

from app.campaigns import bulk_contacts


def change_contacts(change_id: int) -> str:
    """Make the change batch by batch; runs in the worker's app context. Run
    again after a worker died, it resumes after the last committed batch."""
    return bulk_contacts.run(change_id)
