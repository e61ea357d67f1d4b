"""What browser tests share: Debian's chromium for pytest-playwright, the
Procfile's web and worker processes against the test databases, and signing in."""

import os
import re

import pytest
from playwright.sync_api import Page, expect

from devtools import chromium, procfile
from tests.conftest import worker_env
from tests.factories import PASSWORD

# A wait for what the page shows is a wait, not a speed test: a CI machine
# sharing its two cores with the whole stack can take longer than
# Playwright's 5 s for a stream to open or an answer to land.
expect.set_options(timeout=10_000)

needs_chromium = pytest.mark.skipif(
    not os.path.exists(chromium.PATH) and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (make test installs it when run as root)",
)

# Slow enough to see badges move, with every send succeeding so Sent reaches
# the total; a test marked @pytest.mark.stack(NAME=value) changes any of them.
STACK_SETTINGS = {
    "PROVIDER_LATENCY_MIN": 0.3,
    "PROVIDER_LATENCY_MAX": 0.8,
    "PROVIDER_FAILURE_RATE": 0,
    "DISPATCH_CONCURRENCY": 3,
    "PYTHONUNBUFFERED": 1,
    "SSE_KEEPALIVE_SECONDS": 1,
    "WEB_CONCURRENCY": 1,
    # Two pages of recipients: live updates name recipients a page does not show.
    "RECIPIENTS_PER_PAGE": 5,
}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": chromium.PATH, "args": chromium.ARGS}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test on a live stack reports the ends of its processes' logs:
    what the worker was doing is the first question, and tmp_path is gone by then."""
    report = yield
    logs = getattr(item, "stack_logs", None)
    if logs and report.failed:
        for log in logs:
            if log.exists() and (lines := log.read_text(errors="replace").splitlines()):
                report.sections.append((f"{log.name} ({call.when}), last 40 lines", "\n".join(lines[-40:])))
    return report


@pytest.fixture
def live_stack(request, app, services, tmp_path):
    """The Procfile's web and worker processes against the test databases, and
    its scheduler, or reconciler, for a test marked ``@pytest.mark.scheduler``
    (``reconciler``); yields the base URL."""
    marker = request.node.get_closest_marker("stack")
    env = worker_env(services, **{**STACK_SETTINGS, **(marker.kwargs if marker else {})})
    request.node.stack_logs = [tmp_path / f"{name}.log" for name in ("web", "worker", "scheduler", "reconciler")]
    with (
        open(tmp_path / "web.log", "w") as web_log,
        open(tmp_path / "worker.log", "w") as worker_log,
        open(tmp_path / "scheduler.log", "w") as scheduler_log,
        open(tmp_path / "reconciler.log", "w") as reconciler_log,
    ):
        web, base_url = procfile.start_web(env, web_log)
        others = [procfile.start("worker", env, worker_log)]
        if request.node.get_closest_marker("scheduler"):
            others.append(procfile.start("scheduler", env, scheduler_log))
        if request.node.get_closest_marker("reconciler"):
            others.append(procfile.start("reconciler", env, reconciler_log))
        try:
            yield base_url
        finally:
            procfile.stop(web, quick=True)
            # A send still in flight has nothing left to tell this test: the
            # pool gets a moment for a warm stop, then goes, work horses and all.
            for process in others:
                procfile.stop(process, timeout=3)


# Marks the page once its recipients block has reloaded itself for its stream,
# which it does right after loading (live.js drops the answer when nothing
# changed since the page was rendered): a test that presses a control before
# then races the reload. (The page's CSP forbids eval, so wait_for_function
# cannot run.)
MARK_BLOCK_RELOADED = (
    'document.addEventListener("htmx:afterRequest", (e) => {'
    ' if (e.detail.elt.id === "recipients") document.body.dataset.blockReloaded = "yes"; });'
)


def goto_live(page: Page, url: str) -> None:
    """Open a campaign page and wait until it is live: stream open, block reloaded."""
    page.add_init_script(MARK_BLOCK_RELOADED)
    page.goto(url)
    expect(page.locator("body[data-block-reloaded]")).to_be_attached()


def start_dispatch(page: Page) -> None:
    """Press Start dispatch and confirm in its dialog, which says what it will send."""
    page.get_by_role("button", name="Start dispatch").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Send to")
    dialog.get_by_role("button", name=re.compile(r"^Send to \d")).click()
    expect(page.locator("dialog[open]")).to_have_count(0)


def screenshot(page: Page, name: str) -> None:
    """Kept where SCREENSHOTS says, to look at as a new member of staff would."""
    if folder := os.environ.get("SCREENSHOTS"):
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(email)
