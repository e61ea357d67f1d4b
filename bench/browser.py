"""How a real browser copes with a large campaign going out: Debian's chromium,
driven by Playwright, with the campaign page open while every recipient is sent."""

import statistics
from contextlib import contextmanager
from dataclasses import dataclass

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
def campaign_page(base_url: str, email: str, password: str, campaign_id: int):
    """Opens the campaign's page, and yields a function that returns what the
    page has been through since it finished loading."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium.PATH, args=chromium.ARGS)
        try:
            page = browser.new_page()
            page.add_init_script(WATCH)
            page.goto(f"{base_url}/sign-in")
            page.get_by_label("Email", exact=True).fill(email)
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base_url}/campaigns")
            page.goto(f"{base_url}/campaigns/{campaign_id}")
            page.wait_for_function("document.querySelector('#campaign-live') !== null")
            page.wait_for_timeout(1000)  # the stream opens and the page reloads its rows once
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
        finally:
            browser.close()
