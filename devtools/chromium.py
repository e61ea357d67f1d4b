"""Debian's chromium, as the browser tests and the benchmark launch it."""

import shutil

PATH = shutil.which("chromium") or "/usr/bin/chromium"
# As root in a container, without a GPU, and with no network beyond loopback:
# chromium's own background connections would only be refused.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def available() -> bool:
    """Chromium is installed and Playwright (a development dependency) imports."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return shutil.which("chromium") is not None
