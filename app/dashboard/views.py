"""``/``: the dashboard, the home page after sign-in, for everyone on the
staff. Its days come from the hourly rollup (``dashboard.days``); the
campaigns sending and scheduled now follow live as on the Operations page
(``campaigns/_now_live.html``)."""

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from app import clock, zones
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import listing
from app.campaigns.models import Campaign
from app.dashboard import days, spend
from app.extensions import db
from app.messaging.channels import Channel

bp = Blueprint("dashboard", __name__)

# The latest campaigns shown; the rest are the campaign list.
LATEST = 5


@bp.get("/")
@requires(Role.VIEWER)
def index() -> str:
    now = clock.utcnow()
    period = days.Period.from_args(request.args, zones.viewer(), now)
    outcomes = days.read(period)
    latest = db.session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(LATEST))
    return render_template(
        "dashboard/index.html",
        period=period,
        periods=days.PERIODS,
        anything_sent=days.anything_sent(),
        outcomes=outcomes,
        message_rows=outcomes.message_rows(),
        rate_rows=outcomes.rate_rows(),
        spending=spend.this_month(current_app.config),
        # Budgets are by the calendar month in UTC, as Start counts them.
        month_start=now.date().replace(day=1).isoformat(),
        latest=list(latest),
        channels=list(Channel),
        **listing.now(),
    )
