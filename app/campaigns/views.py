from collections.abc import Callable

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from app import audit, htmx, searching, zones
from app.auth.access import background, can, requires
from app.auth.models import Role
from app.campaigns import controls, cost, drafts, lifecycle, listing, live, recipient_search, test_sends, transitions
from app.campaigns import preview as message_preview
from app.campaigns.charts import for_campaign
from app.campaigns.forms import CampaignForm, ScheduleForm, chosen_audience
from app.campaigns.models import Campaign, DeliveryAttempt, Recipient
from app.campaigns.parsing import ParseResult
from app.campaigns.recipient_search import RecipientSearch
from app.campaigns.transitions import Change, Failures
from app.contacts.filters import Audience
from app.extensions import csrf, db
from app.formatting import plural
from app.kept import keeps_what_was_typed, take
from app.live.broker import shows_param
from app.messaging.channels import Channel
from app.notices import about_campaign
from app.paging import paginate
from app.saved_templates import library as saved_templates
from app.saved_templates.models import SavedTemplate

bp = Blueprint("campaigns", __name__)
GONE = "There is no campaign with that number: it may have been a draft that was deleted."


@bp.get("/campaigns")
@requires(Role.VIEWER)
def index() -> str:
    """The campaign list, searched and filtered as the URL says; for htmx,
    the table only, with the status counts out of band."""
    search = listing.CampaignSearch.from_args(request.args)
    counts = search.status_counts()
    # The counts beside the status filter give the total: no second COUNT.
    total = counts[search.status] if search.status else sum(counts.values())
    page = paginate(search.query(), current_app.config["CAMPAIGNS_PER_PAGE"], total)
    if htmx.targets("campaign-list"):
        # The list reloads itself when any campaign's status changes (live.show_campaign_change).
        return render_template("campaigns/_list.html", page=page, search=search, counts=counts,
                               statuses=listing.STATUSES, oob=True)  # fmt: skip
    return render_template(
        "campaigns/index.html",
        page=page,
        search=search,
        counts=counts,
        statuses=listing.STATUSES,
        channels=listing.CHANNELS,
        sorts=listing.SORTS,
        dated=listing.DATED,
        creators=listing.creators(),
    )


@bp.get("/campaigns/now")
@requires(Role.VIEWER)
def now() -> str:
    """The campaigns sending and scheduled now, as the dashboard and the
    Operations page show them: the block alone, as it reloads itself."""
    return render_template("campaigns/_now.html", **listing.now())


@bp.route("/campaigns/new", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@keeps_what_was_typed
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def new() -> str | Response:
    kept = take(request.args.get("kept")) if request.method == "GET" else None
    start_from = request.args.get("template", type=int) if request.method == "GET" and not kept else None
    if kept:
        form = CampaignForm(formdata=kept)
    elif start_from and (saved := db.session.get(SavedTemplate, start_from)):
        form = CampaignForm(
            data={"title": saved.name, "channel": saved.channel, "subject": saved.subject, "message": saved.message}
        )
    elif request.method == "GET" and (chosen := request.args.get("audience_import", type=int)):
        # "Send a campaign to these contacts", from an import's page.
        form = CampaignForm(data={"audience": "contacts", "audience_import": str(chosen)})
    elif request.method == "GET" and (chosen := request.args.get("audience_segment", type=int)):
        # "Send a campaign", from the Segments page.
        form = CampaignForm(data={"audience": "segment", "audience_segment": str(chosen)})
    else:
        form = CampaignForm()
    if form.validate_on_submit():
        parsed = form.parsed
        assert parsed is not None  # validating the recipients parsed them
        campaign = drafts.create_campaign(
            form.title.data,
            form.channel.data,
            form.message.data,
            parsed.recipients,
            created_by=current_user,
            subject=form.email_subject,
            from_contacts=form.from_contacts,
            audience=form.sent_to,
        )
        summary = creation_summary(parsed)
        if (send_at := form.send_at_utc) is not None:
            # Validated as still to come a moment ago; a refusal now would only say so.
            summary = creation_summary(parsed, then=lifecycle.schedule(campaign.id, send_at, current_user).notice)
        db.session.commit()
        # Open campaign lists show it at once, whoever is watching.
        live.show_campaign_change(campaign.id)
        db.session.refresh(campaign)
        flash(summary, about_campaign("success", campaign.status))
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    return render_template(
        "campaigns/form.html",
        form=form,
        parsed=form.parsed,
        kept=kept is not None,
        editing=None,
        saved_templates=saved_templates.by_channel() if request.method == "GET" and not kept else [],
    )


@bp.route("/campaigns/preview", methods=["POST"])
@requires(Role.OPERATOR)
@background
def preview() -> str:
    """The form's live preview (htmx, as the person types): the message as the
    first recipients will get it, and how long it is."""
    form = request.form
    shown = message_preview.build(
        form.get("channel", ""),
        form.get("message", ""),
        form.get("subject", ""),
        form.get("recipients", ""),
        region=current_app.config["DEFAULT_REGION"],
        line_max=current_app.config["RECIPIENT_LINE_MAX_CHARS"],
        sms_max_segments=current_app.config["SMS_MAX_SEGMENTS"],
        audience=_audience(form),
    )
    return render_template("campaigns/_preview.html", preview=shown)


def _audience(form, kind: str | None = None) -> Audience | None:
    """The contacts the form sends to, on the channel it names; None for a paste."""
    channel = form.get("channel", "")
    return chosen_audience(form, channel if channel in set(Channel) else Channel.SMS.value, kind)


@bp.post("/campaigns/audience")
@requires(Role.OPERATOR)
@background
def audience_size() -> str:
    """How many contacts the form's filters choose, as they change (htmx)."""
    audience = _audience(request.form, "segment" if request.form.get("audience") == "segment" else "contacts")
    # A filter not understood is said at once, with no count that would leave it out.
    size = None if audience is None or audience.filters.ignored else audience.size()
    return render_template("campaigns/_audience_size.html", audience=audience, size=size)


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@requires(Role.OPERATOR)
@keeps_what_was_typed
@csrf.exempt  # the form checks its own token, and shows itself again, filled in, if refused
def edit(campaign_id: int) -> str | Response:
    """A draft's New campaign form, filled in with it; saved, it replaces the draft."""
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    kept = take(request.args.get("kept")) if request.method == "GET" else None
    if kept:
        form = CampaignForm(formdata=kept)
    elif request.method == "GET":
        if not transitions.may(campaign, Change.EDIT):
            flash(transitions.refused(Change.EDIT, campaign.status), "warning")
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
        paste = drafts.as_paste(campaign.id)
        form = CampaignForm(data={"title": campaign.title, "channel": campaign.channel, "subject": campaign.subject,
                                  "message": campaign.message, "recipients": paste})  # fmt: skip
    else:
        form = CampaignForm()
    refused = None
    if form.validate_on_submit():
        parsed = form.parsed
        assert parsed is not None  # validating the recipients parsed them
        if drafts.edit(campaign.id, form.title.data, form.channel.data, form.message.data, parsed.recipients,
                       actor=current_user, subject=form.email_subject):  # fmt: skip
            db.session.commit()
            live.show_campaign_change(campaign.id)
            flash(f"Draft saved. {creation_summary(parsed, 'It has')}", about_campaign("success", "draft"))
            return redirect(url_for("campaigns.show", campaign_id=campaign.id))
        db.session.rollback()
        db.session.refresh(campaign)
        # Started (or cancelled, or deleted) meanwhile: what was typed stays on the page.
        refused = f"This campaign is {campaign.status} now, so it can no longer be edited. Nothing was changed."
    return render_template(
        "campaigns/form.html", form=form, parsed=form.parsed, kept=kept is not None, editing=campaign, refused=refused
    )


@bp.post("/campaigns/<int:campaign_id>/delete")
@requires(Role.OPERATOR)
def delete(campaign_id: int) -> Response:
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    title = drafts.delete(campaign.id, actor=current_user)
    db.session.commit()
    if title is None:
        db.session.refresh(campaign)
        flash(transitions.refused(Change.DELETE, campaign.status), "warning")
        target = url_for("campaigns.show", campaign_id=campaign_id)
    else:
        live.show_deleted(campaign_id)
        flash(f"Deleted the draft “{title}”.", "success")
        target = url_for("campaigns.index")
    if htmx.is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


REVIEW_THEN_START = "Review the list, then press Start dispatch."


def creation_summary(parsed: ParseResult, opening: str = "Campaign created with", then: str = REVIEW_THEN_START) -> str:
    parts = [f"{opening} {plural(len(parsed.recipients), 'recipient')}."]
    if parsed.duplicates:
        parts.append(f"{plural(len(parsed.duplicates), 'duplicate')} removed: {parsed.duplicates_said()}")
    if parsed.header_line is not None:
        parts.append(f"Line {parsed.header_line} was skipped as a header row.")
    if parsed.errors:
        parts.append(f"{plural(len(parsed.errors), 'line')} with errors skipped.")
    parts.append(then)
    return " ".join(parts)


@bp.get("/campaigns/<int:campaign_id>")
@requires(Role.VIEWER)
def show(campaign_id: int) -> str:
    """The campaign page, or for htmx only its recipients block with the
    header, history and controls out of band (``_refresh.html``), or only its
    charts (which reload themselves while it sends)."""
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    history = audit.campaign_history(campaign.id)
    if htmx.targets("campaign-charts"):
        charts = for_campaign(campaign, history, zones.viewer())
        return render_template("campaigns/_charts.html", campaign=campaign, charts=charts)
    try:
        status = recipient_search.tab_asked(request.args.get("status"))
    except ValueError as error:
        abort(400, description=str(error))
    per_page = current_app.config["RECIPIENTS_PER_PAGE"]
    q = searching.typed(request.args)
    matches = None
    if q:
        search = RecipientSearch(
            campaign.id, q, status, current_app.config["DEFAULT_REGION"], phones=Channel(campaign.channel).uses_phone
        )
        matches = search.matches()
        # Exact when there are CAP matches or fewer; else counted as far as the page asked for.
        found, capped = search.in_tab(matches, per_page)
        recipients = search.page(matches, found, capped, per_page)
    else:
        # The counters give the total: a page of a 100,000-recipient campaign counts nothing.
        query = recipient_search.tab(campaign.id, status).order_by(Recipient.id)
        recipients = paginate(query, per_page, campaign.count_for(status))
    template = "campaigns/_refresh.html" if htmx.targets("recipients") else "campaigns/show.html"
    return render_template(
        template,
        campaign=campaign,
        recipients=recipients,
        status=status,
        q=q,
        matches=matches,
        cap=recipient_search.CAP,
        history=history,
        charts=for_campaign(campaign, history, zones.viewer()) if template == "campaigns/show.html" else None,
        shows=shows_param([r.id for r in recipients.items]),
        **_test_send_context(campaign),
    )


def _test_send_context(campaign: Campaign) -> dict:
    """For the controls: where the person's test would go, and their last test
    of this campaign, while a test may be sent (operators, before Start)."""
    if not (can("operator") and transitions.may(campaign, Change.SEND_TEST)):
        return {}
    user = current_user._get_current_object()
    return {
        "test_address": test_sends.address_for(user, campaign.channel),
        "test_address_kind": test_sends.where_to_set(campaign.channel),
        "test_send": test_sends.latest(campaign.id, user),
    }


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
        "campaigns/recipient.html",
        campaign=db.session.get(Campaign, campaign_id),
        recipient=found,
        attempts=attempts,
    )


@bp.get("/campaigns/<int:campaign_id>/start")
@requires(Role.OPERATOR)
def confirm_start(campaign_id: int) -> str | Response:
    """Start's confirmation, with its numbers as they are now: a dialog on the
    campaign's page (htmx), or a page of its own."""
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    if not transitions.may(campaign, Change.START):
        flash(transitions.refused(Change.START, campaign.status), "warning")
        return redirect(url_for("campaigns.show", campaign_id=campaign.id))
    estimate = cost.at_start(campaign, current_app.config)
    template = "campaigns/_start_dialog.html" if htmx.is_htmx() else "campaigns/start.html"
    return render_template(template, campaign=campaign, estimate=estimate, money=cost.money)


@bp.post("/campaigns/<int:campaign_id>/start")
@requires(Role.OPERATOR)
def start(campaign_id: int) -> Response:
    return _control(campaign_id, lifecycle.start)


@bp.post("/campaigns/<int:campaign_id>/schedule")
@requires(Role.OPERATOR)
@csrf.exempt  # the form checks its own token, and comes back with what was typed if refused
def schedule(campaign_id: int) -> str | Response | tuple[str, int]:
    """Schedule a draft, or reschedule a scheduled campaign, to start by itself
    at the time typed (in the person's zone). Refused (a time past, no
    recipients), the form comes back with what was typed and why."""
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    form = ScheduleForm()
    if form.validate_on_submit():
        if campaign.recipient_count == 0:
            form.send_at.errors = ["This campaign has no recipients: add some before scheduling it."]
        else:
            at = form.send_at_utc
            return _control(campaign.id, lambda cid, actor: lifecycle.schedule(cid, at, actor))
    if htmx.is_htmx():
        return render_template("campaigns/_schedule_controls.html", campaign=campaign, schedule_form=form, oob=True)
    return render_template("campaigns/schedule.html", campaign=campaign, schedule_form=form), 400


@bp.post("/campaigns/<int:campaign_id>/unschedule")
@requires(Role.OPERATOR)
def unschedule(campaign_id: int) -> Response:
    return _control(campaign_id, lifecycle.unschedule)


@bp.post("/campaigns/<int:campaign_id>/pause")
@requires(Role.OPERATOR)
def pause(campaign_id: int) -> Response:
    return _control(campaign_id, lifecycle.pause)


@bp.post("/campaigns/<int:campaign_id>/resume")
@requires(Role.OPERATOR)
def resume(campaign_id: int) -> Response:
    return _control(campaign_id, lifecycle.resume)


@bp.post("/campaigns/<int:campaign_id>/cancel")
@requires(Role.OPERATOR)
def cancel(campaign_id: int) -> Response:
    return _control(campaign_id, lifecycle.cancel)


@bp.post("/campaigns/<int:campaign_id>/retry-failed")
@requires(Role.OPERATOR)
def retry_failed(campaign_id: int) -> Response:
    """``which``: temporary failures (without one, as before), permanent ones, or all."""
    try:
        which = Failures(request.form.get("which") or Failures.TRANSIENT)
    except ValueError:
        abort(400, description="Choose which failures to retry: transient, permanent or all.")
    return _control(campaign_id, lambda cid, actor: lifecycle.retry_failed(cid, actor, which))


def answer(campaign_id: int, category: str, notice: str) -> Response:
    """A control's answer: for htmx the notice, and the page reloads its
    recipients block in place (``campaign-changed``), keeping its tab and page;
    without JavaScript, the page is loaded again."""
    if htmx.is_htmx():
        response = make_response(render_template("_notices.html", notices=[(category, notice)], oob=True))
        response.headers["HX-Trigger"] = "campaign-changed"
        return response
    flash(notice, category)
    return redirect(url_for("campaigns.show", campaign_id=campaign_id))


def _control(campaign_id: int, change: Callable[..., lifecycle.Result]) -> Response:
    """Make one change to the campaign, commit it, then enqueue what it owes
    and show it live to every open page."""
    campaign = db.get_or_404(Campaign, campaign_id, description=GONE)
    result = controls.carry_out(campaign.id, lambda: change(campaign.id, current_user))
    db.session.refresh(campaign)
    category = about_campaign("success" if result.changed else "warning", campaign.status)
    return answer(campaign.id, category, result.notice)
