"""The README's settings table names every setting the app reads, so a rule
chosen by a setting (a cap, a window) is never one a reader cannot find."""

import re
from pathlib import Path

from app.config import DEFAULTS

README = Path(__file__).resolve().parent.parent / "README.md"


def settings_table() -> set[str]:
    text = README.read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])}


def test_the_readme_settings_table_names_every_setting():
    assert set(DEFAULTS) - settings_table() == set()


def test_the_readme_names_no_setting_the_app_does_not_read():
    # WEB_CONCURRENCY is gunicorn's own, PROMETHEUS_MULTIPROC_DIR prometheus-client's.
    assert settings_table() - set(DEFAULTS) - {"WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"} == set()
