"""Export CSV: a campaign's recipients as its page lists them (the tab and
the search in the URL), and the contacts as their list's search and filters
choose them; streamed files (``app.exporting``). Viewers may take what they
may read."""

from flask import Blueprint, abort, current_app, request
from flask_login import current_user
from werkzeug.wrappers import Response

from app import searching
from app.audit import Via
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import exports, recipient_search
from app.campaigns.models import Campaign
from app.campaigns.views import GONE
from app.contacts import exports as contact_exports
from app.contacts.filters import Filters
from app.extensions import db
from app.messaging.channels import Channel

bp = Blueprint("exports", __name__)


@bp.get("/campaigns/<int:campaign_id>/recipients.csv")
@requires(Role.VIEWER)
def recipients(campaign_id: int) -> Response:
    """Every recipient of the tab and search asked for (``status``, ``q``), on all pages."""
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    try:
        status = recipient_search.tab_asked(request.args.get("status"))
    except ValueError as error:
        abort(400, description=str(error))
    q = searching.typed(request.args)
    region, phones = current_app.config["DEFAULT_REGION"], Channel(campaign.channel).uses_phone
    found = recipient_search.chosen(campaign.id, status, q, region, phones)
    actor = current_user._get_current_object()
    return exports.download(campaign, found, asked=exports.which(status, q), actor=actor, via=Via.WEB)


@bp.get("/contacts/export.csv")
@requires(Role.VIEWER)
def contacts() -> Response:
    """Every contact the list's search and filters choose; a filter not
    understood is left out, as the list leaves it out."""
    filters = Filters.from_args(request.args)
    return contact_exports.download(filters, actor=current_user._get_current_object(), via=Via.WEB)
