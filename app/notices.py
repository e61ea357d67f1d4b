"""Notices: the one-line outcome of what someone just did, at the top of the page."""


def about_campaign(category: str, status: str) -> str:
    """The category of a notice about a campaign now in ``status`` ("Dispatch
    started.": ``success:sending``). The page drops such a notice once the
    campaign's status moves on, whoever moved it (live.js)."""
    return f"{category}:{status}"
