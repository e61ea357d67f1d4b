import logging
from collections.abc import Callable

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.wrappers import Response

from app import audit, htmx
from app.auth.access import requires
from app.auth.models import Role
from app.campaigns import bp, controls, dispatch, live
from app.campaigns.forms import CampaignForm
from app.campaigns.models import Campaign, DeliveryAttempt, Recipient, RecipientStatus
from app.campaigns.parsing import plural
from app.extensions import db

log = logging.getLogger(__name__)


@bp.get("/")
@requires(Role.VIEWER)
def home() -> Response:
    return redirect(url_for("campaigns.index"))


@bp.get("/campaigns")
@requires(Role.VIEWER)
def index() -> str:
    page = db.paginate(
        select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()),
        per_page=current_app.config["CAMPAIGNS_PER_PAGE"],
        max_per_page=current_app.config["CAMPAIGNS_PER_PAGE"],
    )
    return render_template("campaigns/index.html", page=page)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
def new() -> str | Response:
    form = CampaignForm()
    if form.validate_on_submit():
        parsed = form.parsed
        campaign = dispatch.create_campaign(
            form.title.data, form.channel.data, form.message.data, parsed.recipients, created_by=current_user
        )
        db.session.commit()
        flash(creation_summary(len(parsed.recipients), len(parsed.duplicate_lines), len(parsed.errors)), "success")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template("campaigns/new.html", form=form, parsed=form.parsed)


def creation_summary(created: int, duplicates: int, skipped: int) -> str:
    parts = [f"Campaign created with {plural(created, 'recipient')}."]
    if duplicates:
        parts.append(f"{plural(duplicates, 'duplicate')} removed.")
    if skipped:
        parts.append(f"{plural(skipped, 'line')} with errors skipped.")
    parts.append("Review the list, then press Start dispatch.")
    return " ".join(parts)


@bp.get("/campaigns/<int:campaign_id>")
@requires(Role.VIEWER)
def show(campaign_id: int) -> str:
    campaign = db.get_or_404(Campaign, campaign_id)
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in RecipientStatus}:
        abort(400, description=f"Unknown status filter {status!r}.")
    per_page = current_app.config["RECIPIENTS_PER_PAGE"]
    page_number = max(request.args.get("page", 1, type=int), 1)
    query = select(Recipient).where(Recipient.campaign_id == campaign.id)
    if status:
        query = query.where(Recipient.status == status)
    recipients = db.session.scalars(
        query.order_by(Recipient.id).limit(per_page).offset((page_number - 1) * per_page)
    ).all()
    context = dict(
        campaign=campaign,
        recipients=recipients,
        status=status,
        page_number=page_number,
        # From the counters, not COUNT(*): a page of a 100,000-recipient campaign stays cheap.
        page_count=max(-(-campaign.count_for(status) // per_page), 1),
    )
    context["history"] = audit.campaign_history(campaign.id)
    if htmx.targets("recipients"):
        return render_template("campaigns/_refresh.html", **context)
    return render_template("campaigns/show.html", **context)


@bp.post("/campaigns/<int:campaign_id>/start")
@requires(Role.OPERATOR)
def start(campaign_id: int) -> str | Response:
    campaign = db.get_or_404(Campaign, campaign_id)
    started = dispatch.start(campaign.id, current_user)
    db.session.commit()
    if started:
        dispatch.enqueue_send(campaign.id, campaign.recipient_count)
    db.session.refresh(campaign)
    notice = start_notice(started, campaign.status)
    category = "success" if started else "warning"
    if htmx.is_htmx():
        return render_template(
            "campaigns/_started.html",
            campaign=campaign,
            history=audit.campaign_history(campaign.id),
            notice=notice,
            category=category,
        )
    flash(notice, category)
    return redirect(url_for("campaigns.show", campaign_id=campaign.id))


def start_notice(started: bool, status: str) -> str:
    if started:
        return "Dispatch started."
    if status == "sending":
        return "This campaign is already dispatching."
    return f"This campaign is {status}; it cannot be started again."


@bp.get("/campaigns/<int:campaign_id>/recipients/<int:recipient_id>")
@requires(Role.VIEWER)
def recipient(campaign_id: int, recipient_id: int) -> str:
    """One recipient and every attempt to send to them."""
    found = db.session.get(Recipient, recipient_id)
    if found is None or found.campaign_id != campaign_id:
        abort(404)
    attempts = db.session.scalars(
        select(DeliveryAttempt).where(DeliveryAttempt.recipient_id == found.id).order_by(DeliveryAttempt.id)
    ).all()
    return render_template(
        "campaigns/recipient.html", campaign=db.session.get(Campaign, campaign_id), recipient=found, attempts=attempts
    )


@bp.post("/campaigns/<int:campaign_id>/pause")
@requires(Role.OPERATOR)
def pause(campaign_id: int) -> Response:
    return _control(campaign_id, controls.pause)


@bp.post("/campaigns/<int:campaign_id>/resume")
@requires(Role.OPERATOR)
def resume(campaign_id: int) -> Response:
    return _control(campaign_id, controls.resume)


@bp.post("/campaigns/<int:campaign_id>/cancel")
@requires(Role.OPERATOR)
def cancel(campaign_id: int) -> Response:
    return _control(campaign_id, controls.cancel)


@bp.post("/campaigns/<int:campaign_id>/retry-failed")
@requires(Role.OPERATOR)
def retry_failed(campaign_id: int) -> Response:
    include_permanent = request.form.get("which") == "all"
    return _control(campaign_id, lambda cid, actor: controls.retry_failed(cid, actor, include_permanent))


def _control(campaign_id: int, change: Callable[..., controls.Result]) -> Response:
    """Make one operator change, then reload the page (htmx follows HX-Redirect)
    so it shows, and streams, the campaign as it now is."""
    campaign = db.get_or_404(Campaign, campaign_id)
    result = change(campaign.id, current_user)
    db.session.commit()
    try:
        if result.to_send:
            dispatch.enqueue_send(campaign.id, result.to_send)
        if result.changed:
            live.publish_refresh(campaign.id)
    except RedisError as error:
        # Committed all the same: the reconciler enqueues what the database says is owed.
        log.warning("campaign %s: after %s, Redis was unreachable: %s", campaign.id, request.endpoint, error)
    flash(result.notice, "success" if result.changed else "warning")
    target = url_for("campaigns.show", campaign_id=campaign.id)
    if htmx.is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)
