""" "Send a test to me" on a campaign's page (``app.campaigns.test_sends``)."""

from flask import Blueprint
from flask_login import current_user
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import test_sends
from app.campaigns.models import Campaign
from app.campaigns.views import GONE, answer
from app.extensions import db
from app.jobqueue import enqueue_test_send

bp = Blueprint("test_sends", __name__)


@bp.post("/campaigns/<int:campaign_id>/send-test")
@requires(Role.OPERATOR)
def send(campaign_id: int) -> Response:
    """The message as the first recipient would get it, to the person's own
    address, by a job (commit, then enqueue); its answer shows beside the button."""
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    try:
        test = test_sends.request(campaign, current_user._get_current_object())
    except test_sends.Refused as refused:
        db.session.rollback()
        return answer(campaign.id, "warning", str(refused))
    db.session.commit()
    try:
        enqueue_test_send(test.id)
    except RedisError:
        test_sends.record(test.id, error="It could not be queued (Redis was unreachable); nothing was sent.")
        db.session.commit()
        return answer(campaign.id, "warning", "The test could not be queued just now; try again in a moment.")
    return answer(campaign.id, "success", f"Sending a test to {test.address}: the answer shows beside the button.")
