"""A campaign's charts in a browser, on a phone, as someone watches it send:
an empty state for the draft, then a chart uPlot draws that grows without a
reload, a pause shaded on its time axis and listed in its numbers, the
failures by error code; no console error (the CSP allows no inline style or
script), nothing axe finds, no sideways scroll."""

import re

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import Role
from app.campaigns import lifecycle
from app.campaigns.controls import carry_out
from tests.browser import goto_live, needs_chromium, screenshot, sign_in
from tests.factories import make_campaign, make_user
from tests.helpers import wait_for
from tests.test_every_page import PHONE, sideways, violations

pytestmark = [pytest.mark.slow, needs_chromium]


def points(page: Page) -> int:
    """The rows charts.js last drew the sends chart from (0 before it drew)."""
    drawn = page.get_by_test_id("sends-chart").get_attribute("data-drawn", timeout=15_000)
    return int(drawn or 0)


@pytest.mark.stack(
    PROVIDER_FAILURE_RATE=0.3,
    PROVIDER_LATENCY_MIN=0.2,
    PROVIDER_LATENCY_MAX=0.4,
    DISPATCH_CONCURRENCY=2,
    RETRY_BASE_SECONDS=1,
    AUTO_PAUSE_FAILURE_RATE=0,
)
def test_a_campaign_s_charts_draw_and_grow_while_it_sends(live_stack, page: Page):
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.set_viewport_size(PHONE)
    make_user(Role.OPERATOR, email="olga@example.com")
    campaign = make_campaign(60, title="Flu shots")
    sign_in(page, live_stack, "olga@example.com")
    goto_live(page, f"{live_stack}/campaigns/{campaign.id}")
    expect(page.get_by_test_id("charts-empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    carry_out(campaign.id, lambda: lifecycle.start(campaign.id, None))
    chart = page.get_by_test_id("sends-chart")
    # uPlot drew it: a canvas in its plot, and its numbers under a disclosure.
    expect(chart.locator(".chart-plot canvas")).to_be_attached(timeout=15_000)
    expect(chart.get_by_text("The numbers")).to_be_visible()
    expect(chart).to_have_attribute("data-drawn", re.compile(r"^[1-9]"))
    first = points(page)
    wait_for(lambda: points(page) > first, 30, "the chart to grow while the campaign sends")
    expect(chart.locator(".chart-plot canvas")).to_be_attached()

    carry_out(campaign.id, lambda: lifecycle.pause(campaign.id, None))
    expect(page.get_by_test_id("chart-periods")).to_contain_text("Paused from", timeout=15_000)
    expect(chart.locator(".chart-swatch-paused")).to_be_attached()
    carry_out(campaign.id, lambda: lifecycle.resume(campaign.id, None))
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=60_000)

    codes = page.get_by_test_id("codes-chart")
    expect(codes.locator(".chart-bar").first).to_be_visible(timeout=15_000)
    chart.get_by_text("The numbers").click()
    expect(page.get_by_test_id("sends-numbers")).to_be_visible()
    screenshot(page, "campaign charts on a phone")
    assert violations(page) == []
    assert sideways(page) <= 0
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    assert not errors, errors
