"""``/operations``: the queue, the workers, the periodic tasks, the last
hour's calls, and the campaigns sending and scheduled now, for admins. The
machinery follows on the ``operations`` channel (``operations.live``); the
campaigns on the campaign list's, as on the dashboard (``campaigns.now``)."""

from flask import Blueprint, Flask, render_template

from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import listing
from app.operations import live, machinery

bp = Blueprint("operations", __name__)


def init_app(app: Flask) -> None:
    publisher = live.Publisher(app, app.extensions["live-broker"])
    app.extensions["live-broker"].produce(live.CHANNEL, publisher.start)


@bp.get("/operations")
@requires(Role.ADMIN)
def index() -> str:
    return render_template("operations/index.html", machinery=machinery.read(), **listing.now())
