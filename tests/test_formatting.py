import pytest

from app.formatting import duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0, "0 s"), (59.4, "59 s"), (75, "1 min 15 s"), (3600, "1 h 0 min"), (7325, "2 h 2 min")],
)
def test_duration_reads_like_an_estimate(seconds, text):
    assert duration(seconds) == text
