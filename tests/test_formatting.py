import pytest

from app.formatting import duration, size


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0, "0 s"), (59.4, "59 s"), (75, "1 min 15 s"), (3600, "1 h 0 min"), (7325, "2 h 2 min")],
)
def test_duration_reads_like_an_estimate(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("octets", "text"),
    [(1, "1 byte"), (500, "500 bytes"), (2_000, "1.95 kB"), (20 * 2**20, "20 MB"), (3 * 2**30, "3 GB")],
)
def test_sizes_read_as_people_say_them(octets, text):
    assert size(octets) == text
