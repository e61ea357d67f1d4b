"""``/operations``: the queue, the workers, the periodic tasks, the last
hour's calls, and the campaigns sending and scheduled now, for admins. The
machinery follows on the ``operations`` channel (``operations.live``); the
campaigns on the campaign list's, like the list itself."""

from flask import Blueprint, Flask, render_template

from app.auth.access import requires
from app.auth.models import Role
from app.campaigns.listing import now_in
from app.campaigns.models import Campaign, CampaignStatus
from app.operations import live, machinery

bp = Blueprint("operations", __name__)

# Campaigns shown of each kind; the rest are a link to the campaign list.
SHOWN = 10


def init_app(app: Flask) -> None:
    publisher = live.Publisher(app, app.extensions["live-broker"])
    app.extensions["live-broker"].produce(live.CHANNEL, publisher.start)


@bp.get("/operations")
@requires(Role.ADMIN)
def index() -> str:
    return render_template("operations/index.html", machinery=machinery.read(), **_now())


@bp.get("/operations/campaigns")
@requires(Role.ADMIN)
def campaigns() -> str:
    """The campaigns block alone, as it reloads itself."""
    return render_template("operations/_campaigns.html", **_now())


def _now() -> dict[str, object]:
    return {
        # The longest running first; the next to start first.
        "sending": now_in((CampaignStatus.SENDING, CampaignStatus.PAUSED), Campaign.started_at, SHOWN),
        "scheduled": now_in((CampaignStatus.SCHEDULED,), Campaign.scheduled_at, SHOWN),
    }
