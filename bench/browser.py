"""How a real browser copes with a large campaign going out: Debian's chromium,
driven by Playwright, with the campaign page open while every recipient is sent."""

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass

from bench.harness import NO_LATENCY, PASSWORD, USER, Bench
from devtools import chromium

# Notes main-thread tasks over 50 ms (the browser's own "long task") and how
# long the page took to apply each live update, from before the page's scripts run.
WATCH = """
window.__bench = {longTasks: [], updates: [], since: 0};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.startTime >= window.__bench.since) window.__bench.longTasks.push(entry.duration);
  }
}).observe({type: "longtask", buffered: true});
let applying = 0;
document.addEventListener("htmx:sseBeforeMessage", () => { applying = performance.now(); });
document.addEventListener("htmx:sseMessage", () => { window.__bench.updates.push(performance.now() - applying); });
"""
RESET = "window.__bench.longTasks = []; window.__bench.updates = []; window.__bench.since = performance.now();"


@dataclass(frozen=True)
class PageLoad:
    updates: int
    median_update_ms: float
    slowest_update_ms: float
    long_tasks: int
    longest_task_ms: float
    busy_ms: float


@contextmanager
def live_page(base_url: str, email: str, password: str, path: str, script: str):
    """Signs in and opens a campaign's page at ``path``, ``script`` run before
    the page's own; yields the Playwright page once its stream is open."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium.PATH, args=chromium.ARGS)
        try:
            page = browser.new_page()
            page.add_init_script(script)
            page.goto(f"{base_url}/sign-in")
            page.get_by_label("Email", exact=True).fill(email)
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base_url}/")
            page.goto(base_url + path)
            page.wait_for_function("document.querySelector('#campaign-live') !== null")
            page.wait_for_timeout(1000)  # the stream opens and the page reloads its rows once
            yield page
        finally:
            browser.close()


@contextmanager
def campaign_page(base_url: str, email: str, password: str, campaign_id: int):
    """Opens the campaign's page, and yields a function that returns what the
    page has been through since it finished loading."""
    with live_page(base_url, email, password, f"/campaigns/{campaign_id}", WATCH) as page:
        page.evaluate(RESET)

        def measured() -> PageLoad:
            state = page.evaluate("window.__bench")
            tasks, updates = state["longTasks"], state["updates"]
            return PageLoad(
                len(updates),
                statistics.median(updates or [0.0]),
                max(updates, default=0.0),
                len(tasks),
                max(tasks, default=0.0),
                sum(tasks),
            )

        yield measured


def watched_in_browser(bench: Bench) -> None:
    if not chromium.available():
        no_chromium = "not measured: no chromium or Playwright"
        bench.row("browser_update_p50_ms", "a browser on a 100,000-recipient campaign", no_chromium)
        return
    recipients = 20_000 if bench.quick else 100_000
    campaign_id = bench.large_campaign(recipients, "watched in a browser")
    with (
        bench.workers(**NO_LATENCY),
        campaign_page(bench.http.base_url, USER, PASSWORD, campaign_id) as measured,
    ):
        run = bench.dispatch(campaign_id)
        time.sleep(1.0)
        page = measured()
    busy = page.busy_ms / 1000 / run.seconds * 100
    bench.results.update(
        browser_update_p50_ms=round(page.median_update_ms, 1),
        browser_slowest_update_ms=round(page.slowest_update_ms, 1),
        browser_longest_task_ms=round(page.longest_task_ms),
        browser_long_task_pct=round(busy, 1),
    )
    bench.row(
        "browser_update_p50_ms",
        f"browser on a {recipients:,}-recipient campaign sending {run.per_second:,.0f} /s: "
        "apply an update, p50 / max; long tasks",
        f"{page.median_update_ms:.0f} / {page.slowest_update_ms:.0f} ms ({page.updates} updates); "
        f"{busy:.0f} % of the time",
    )
