"""A campaign's charts (app.campaigns.charts): read from its seconds, summed
into at most 300 steps that add up to what it sent, with the periods it was
paused or retrying failures from its history, and on its page as figures
with their numbers."""

import re
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from app.audit import Action, AuditEvent
from app.auth.models import Role
from app.campaigns import charts, lifecycle
from app.campaigns.controls import carry_out
from app.campaigns.transitions import Failures
from app.extensions import db
from tests.conftest import signed_in
from tests.factories import make_campaign, make_user, start_campaign
from tests.helpers import failed_codes, reread, status_counts

UTC = ZoneInfo("UTC")


def seconds_total(campaign_id: int, *outcomes: str) -> int:
    return db.session.execute(
        text("SELECT coalesce(sum(messages), 0) FROM campaign_seconds WHERE campaign_id = :id AND outcome = ANY(:o)"),
        {"id": campaign_id, "o": list(outcomes)},
    ).scalar_one()


def read(campaign) -> charts.Charts:
    campaign = reread(campaign)
    return charts.for_campaign(campaign, list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.campaign_id == campaign.id).order_by(AuditEvent.id))), UTC)  # fmt: skip


def events(campaign_id: int, action: Action) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.campaign_id == campaign_id, AuditEvent.action == action.value)
            .order_by(AuditEvent.id)
        )
    )


def test_the_steps_are_the_narrowest_that_fit_300():
    assert charts.step_for(0, 299) == 1
    assert charts.step_for(0, 300) == 2
    assert charts.step_for(0, 3 * 3600) == 60
    assert charts.step_for(0, 2 * 86400) == 600
    assert charts.step_for(0, 400 * 86400) == 2 * 86400
    for span in (1, 299, 300, 3599, 86399, 86400 * 30, 86400 * 1000):
        step = charts.step_for(1_764_892_801, 1_764_892_801 + span)
        assert (1_764_892_801 + span) // step - 1_764_892_801 // step < charts.MAX_POINTS, span


def test_a_sent_campaign_s_steps_add_up_to_its_seconds_and_its_recipients(app, run_worker, config):
    config(PROVIDER_FAILURE_RATE=0.4, RETRY_BASE_SECONDS=0, RETRY_MAX_ATTEMPTS=2, AUTO_PAUSE_FAILURE_RATE=0)
    campaign = start_campaign(make_campaign(60))
    run_worker()

    read_back = read(campaign)
    final = status_counts(campaign.id)
    assert read_back.step == 1 and 0 < len(read_back.buckets) <= charts.MAX_POINTS
    assert read_back.sent == final["sent"] == seconds_total(campaign.id, "sent")
    assert read_back.failures == seconds_total(campaign.id, "failed", "retrying") > 0
    # The failures by code are the recipients' own, and every call retried is counted by its code.
    codes = dict(read_back.codes)
    assert {code: n["failed"] for code, n in codes.items() if "failed" in n} == failed_codes(campaign.id)
    assert sum(n.get("retrying", 0) for n in codes.values()) == seconds_total(campaign.id, "retrying")
    assert [bucket.at for bucket in read_back.buckets] == sorted({bucket.at for bucket in read_back.buckets})


def test_a_long_campaign_is_read_in_wider_steps_that_still_add_up(app):
    campaign = start_campaign(make_campaign(1), enqueue=False)
    # Three hours of sends, as the send path counts them: a row per second and outcome.
    db.session.execute(
        text(
            """
            INSERT INTO campaign_seconds (campaign_id, second, outcome, error_code, messages)
            SELECT :id, date_trunc('second', c.started_at) + n * interval '1 second', o.outcome, o.code, 1 + n % 3
            FROM campaigns c, generate_series(0, 3 * 3600, 7) AS n,
                 (VALUES ('sent', ''), ('retrying', 'timeout'), ('failed', 'invalid_number')) AS o(outcome, code)
            WHERE c.id = :id
            """
        ),
        {"id": campaign.id},
    )
    db.session.commit()

    read_back = read(campaign)
    assert read_back.step == 60 and read_back.per == "per minute"
    # A page following it reloads them every 6 s at most: its last minute is all that changes.
    assert read_back.reload_seconds == 6
    assert len(read_back.buckets) <= charts.MAX_POINTS
    assert all(bucket.at % 60 == 0 for bucket in read_back.buckets)
    assert read_back.sent == seconds_total(campaign.id, "sent")
    assert read_back.failures == seconds_total(campaign.id, "failed", "retrying")
    assert dict(read_back.codes) == {
        "timeout": {"retrying": seconds_total(campaign.id, "retrying")},
        "invalid_number": {"failed": seconds_total(campaign.id, "failed")},
    }


def test_paused_and_retrying_periods_come_from_the_history(app, run_worker, config):
    config(PROVIDER_FAILURE_RATE=1, RETRY_MAX_ATTEMPTS=1, AUTO_PAUSE_FAILURE_RATE=0)
    campaign = start_campaign(make_campaign(5))
    carry_out(campaign.id, lambda: lifecycle.pause(campaign.id, None))
    carry_out(campaign.id, lambda: lifecycle.resume(campaign.id, None))
    run_worker()
    assert reread(campaign).status == "completed" and reread(campaign).failed_count
    carry_out(campaign.id, lambda: lifecycle.retry_failed(campaign.id, None, Failures.ALL))
    run_worker()
    # Paused again, and left paused: the period runs until now.
    carry_out(campaign.id, lambda: lifecycle.retry_failed(campaign.id, None, Failures.ALL))
    carry_out(campaign.id, lambda: lifecycle.pause(campaign.id, None))

    read_back = read(campaign)
    paused = events(campaign.id, Action.CAMPAIGN_PAUSED)
    resumed = events(campaign.id, Action.CAMPAIGN_RESUMED)
    retried = events(campaign.id, Action.CAMPAIGN_RETRIED)
    completed = events(campaign.id, Action.CAMPAIGN_COMPLETED)
    found = [(p.kind, p.start, p.end) for p in read_back.periods]
    assert found[:3] == [
        ("paused", paused[0].at, resumed[0].at),
        ("retrying", retried[0].at, completed[1].at),
        ("retrying", retried[1].at, read_back.end),
    ]
    assert found[3] == ("paused", paused[1].at, read_back.end)
    assert read_back.periods[0].said == "by someone"
    assert read_back.periods[1].said == "5 recipients (all failures), by someone"


def test_a_draft_shows_an_empty_state_rather_than_a_chart(app, client):
    campaign = make_campaign(3)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'id="campaign-charts"' in page and 'data-testid="charts-empty"' in page
    assert "<figure" not in page


def test_the_charts_fragment_has_the_numbers_the_chart_is_drawn_from(app, run_worker, config):
    config(PROVIDER_FAILURE_RATE=0.4, RETRY_BASE_SECONDS=0, RETRY_MAX_ATTEMPTS=2, AUTO_PAUSE_FAILURE_RATE=0)
    viewer = signed_in(app, make_user(Role.VIEWER))
    campaign = start_campaign(make_campaign(60))
    run_worker()
    db.session.commit()  # the test's session, which the requests share, reads the campaign afresh

    answer = viewer.get(f"/campaigns/{campaign.id}", headers={"HX-Request": "true", "HX-Target": "campaign-charts"})
    fragment = answer.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="campaign-charts"')
    assert f'data-version="{reread(campaign).version}"' in fragment
    assert 'hx-trigger="charts-stale"' in fragment
    sends = fragment.split('data-testid="sends-numbers"', 1)[1].split("</table>", 1)[0]
    row = r'<th scope="row" data-x="(\d+)">[^<]+</th><td data-y="(\d+)">[^<]+</td><td data-y="(\d+)">'
    rows = re.findall(row, sends)
    assert rows and sum(int(sent) for _, sent, _ in rows) == reread(campaign).sent_count
    assert sum(int(failed) for _, _, failed in rows) == seconds_total(campaign.id, "failed", "retrying")
    assert 'data-chart="lines"' in fragment and 'data-step="1"' in fragment and "per second" in fragment
    codes = fragment.split('data-testid="codes-numbers"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="col" data-color="2">Failed</th><th scope="col" data-color="3">Failed, tried again</th>' in codes
    cells = re.findall(r"<tr><th scope=\"row\">.*?</th>((?:<td data-y=\"\d+\">[^<]+</td>)+)</tr>", codes)
    failed = sum(int(re.findall(r'data-y="(\d+)"', row)[0]) for row in cells)
    assert failed == reread(campaign).failed_count
    # The whole page has them too, with nothing for the recipients block's own reloads.
    assert 'data-testid="sends-chart"' in viewer.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    block = viewer.get(f"/campaigns/{campaign.id}", headers={"HX-Request": "true", "HX-Target": "recipients"})
    assert "campaign-charts" not in block.get_data(as_text=True)
