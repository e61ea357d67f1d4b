"""The settings table (docs/settings.md, linked from the README) names every
setting the app reads, so a rule chosen by a setting (a cap, a window) is
never one a reader cannot find."""

import re
from pathlib import Path

from app.config import DEFAULTS

SETTINGS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def settings_table() -> set[str]:
    rows = [line for line in SETTINGS.read_text().splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])}


def test_the_settings_table_names_every_setting():
    assert set(DEFAULTS) - settings_table() == set()


def test_the_settings_table_names_no_setting_the_app_does_not_read():
    # WEB_CONCURRENCY is gunicorn's own, PROMETHEUS_MULTIPROC_DIR prometheus-client's.
    assert settings_table() - set(DEFAULTS) - {"WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"} == set()
