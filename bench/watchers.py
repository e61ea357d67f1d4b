"""Many streams watching on the Procfile's web processes: 1,000 on one
campaign, then 1,000 spread over 100 (``watchers``). Each stream reads as a
page's EventSource does (devtools/watchers.py) while the campaigns send."""

import re
import time
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import func, select

from app.campaigns.models import Campaign, Recipient
from app.extensions import db
from app.live.broker import shows_param
from app.live.channel import campaign_channel
from bench.harness import LATENCY, Bench
from bench.measure import percentile
from bench.stack import rss_mb
from devtools.watchers import Watch, Watchers


def watchers(bench: Bench) -> None:
    streams = 200 if bench.quick else 1_000
    recipients = 400 if bench.quick else 2_000
    # The baseline: the same send with no stream open, the page timed the same way.
    with bench.workers(DISPATCH_CONCURRENCY="100", **LATENCY):
        unwatched_page_ms = _dispatch_all(bench, [bench.campaign(recipients, "watched by no one")])
    watched = _watch(bench, streams, [bench.campaign(recipients, "watched by many")])
    _record(bench, watched, "1 campaign", "", unwatched_page_ms)
    many = 20 if bench.quick else 100
    spread = [bench.campaign(recipients // many, f"watched, {n + 1} of {many}") for n in range(many)]
    _record(bench, _watch(bench, streams, spread), f"{many} campaigns", "_spread")


class Published:
    """When each update reached a subscriber of the bench's own, as the web
    processes' subscriptions receive it: the start of its delivery."""

    VERSION = re.compile(r'data-version=\\?"([0-9]+)')

    def __init__(self, redis: Redis) -> None:
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.at: dict[tuple[str, int], float] = {}

    def __enter__(self) -> "Published":
        self.pubsub.psubscribe(**{"campaign-*": self._note})
        self.thread = self.pubsub.run_in_thread(sleep_time=0.5, daemon=True)
        return self

    def _note(self, message: dict) -> None:
        now = time.monotonic()
        data = message["data"].decode()
        if '"update"' in data and (version := self.VERSION.search(data)):
            self.at.setdefault((message["channel"].decode(), int(version.group(1))), now)

    def __exit__(self, *exc) -> None:
        self.thread.stop()  # the thread closes the subscription as it ends
        self.thread.join(5)

    def delivery_ms(self, watches: list[Watch]) -> list[float]:
        """Per update: from publish to the last stream of its campaign receiving it."""
        last: dict[tuple[str, int], float] = {}
        for watch in watches:
            for version, at in watch.received.items():
                key = (watch.channel, version)
                last[key] = max(last.get(key, at), at)
        return sorted((last[key] - at) * 1000 for key, at in self.at.items() if key in last)


@dataclass
class Watched:
    """What one watched send came to."""

    watches: list[Watch]
    connected: int
    before_mb: float
    per_watcher_kb: float
    web_connections: int
    page_ms: list[float]
    delivery_ms: list[float]
    final: dict[int, int]  # campaign id → its row version once completed
    final_wait_s: float

    @property
    def final_channels(self) -> dict[str, int]:
        return _channels(self.final)

    def ended(self) -> int:
        return _ended(self.watches, self.final_channels)


def _channels(versions: dict[int, int]) -> dict[str, int]:
    return {campaign_channel(campaign_id): version for campaign_id, version in versions.items()}


def _ended(watches: list[Watch], final: dict[str, int]) -> int:
    """Streams whose newest update is their campaign's final version, completed."""
    return sum(final[w.channel] in w.received and 'data-status="completed"' in w.newest_update for w in watches)


def _watch(bench: Bench, streams: int, campaign_ids: list[int]) -> Watched:
    """Open the streams over the campaigns, then send them all."""
    watches = _streams(bench, streams, campaign_ids)
    redis = Redis.from_url(bench.redis_url)
    before_mb = rss_mb(bench.web)
    with Published(redis) as published, Watchers(bench.http.base_url, bench.http.cookie_header(), watches) as open_:
        connected = open_.wait_connected(120)
        time.sleep(2)  # a keepalive or two: what an idle stream costs, settled
        per_watcher_kb = (rss_mb(bench.web) - before_mb) * 1024 / max(connected, 1)
        web_connections = sum(c["name"].startswith("dispatcher-web") for c in redis.client_list())
        with bench.workers(DISPATCH_CONCURRENCY="100", **LATENCY):
            page_ms = _dispatch_all(bench, campaign_ids)
            completed_at = time.monotonic()
        with bench.app.app_context():
            final = dict(
                db.session.execute(select(Campaign.id, Campaign.version).where(Campaign.id.in_(campaign_ids))).all()
            )
            db.session.commit()
        # The last update follows the completing commit at once; give it ten seconds.
        while _ended(watches, _channels(final)) < len(watches) and time.monotonic() - completed_at < 10:
            time.sleep(0.05)
        final_wait_s = time.monotonic() - completed_at
    delivery_ms = published.delivery_ms(watches)
    return Watched(
        watches, connected, before_mb, per_watcher_kb, web_connections, page_ms, delivery_ms, final, final_wait_s
    )


def _streams(bench: Bench, streams: int, campaign_ids: list[int]) -> list[Watch]:
    """The streams, dealt over the campaigns, each naming its campaign's first page of recipients as a page does."""
    with bench.app.app_context():
        per_page = bench.app.config["RECIPIENTS_PER_PAGE"]
        shows = {
            campaign_id: shows_param(
                db.session.scalars(
                    select(Recipient.id)
                    .where(Recipient.campaign_id == campaign_id)
                    .order_by(Recipient.id)
                    .limit(per_page)
                ).all()
            )
            for campaign_id in campaign_ids
        }
        db.session.commit()
    dealt = [campaign_ids[n % len(campaign_ids)] for n in range(streams)]
    return [Watch(campaign_channel(campaign_id), shows[campaign_id]) for campaign_id in dealt]


def _dispatch_all(bench: Bench, campaign_ids: list[int]) -> list[float]:
    """Start every campaign, and time the first one's page until all complete."""
    for campaign_id in campaign_ids:
        bench.http.start(campaign_id)
    page_ms = []
    path = f"/campaigns/{campaign_ids[0]}"
    with bench.app.app_context():
        while db.session.scalar(
            select(func.count()).where(Campaign.id.in_(campaign_ids), Campaign.status != "completed")
        ):
            db.session.commit()
            page_ms.append(bench.timed(path))
            time.sleep(0.2)
        db.session.commit()
    return page_ms


def _record(
    bench: Bench, watched: Watched, label: str, suffix: str, unwatched_page_ms: list[float] | None = None
) -> None:
    streams = len(watched.watches)
    ended = watched.ended()
    final_pct = 100 * ended / streams
    page_p95 = percentile(watched.page_ms, 95)
    delivery_p95 = percentile(watched.delivery_ms, 95)
    bench.results.update(
        {
            f"watchers_connected{suffix}": watched.connected,
            f"watchers_final_pct{suffix}": round(final_pct, 1),
            f"watch_page_p95_ms{suffix}": round(page_p95, 1),
            f"web_redis_connections{suffix}": watched.web_connections,
            f"rss_per_watcher_kb{suffix}": round(watched.per_watcher_kb, 1),
            f"watch_delivery_p95_ms{suffix}": round(delivery_p95, 1),
        }
    )
    on = f"{streams:,} streams on {label}"
    bench.row(
        f"watchers_final_pct{suffix}",
        f"{on}: connected; newest update final",
        f"{watched.connected:,} of {streams:,}; {final_pct:.0f} % ({_final_said(watched, ended)})",
    )
    measured = f"{page_p95:.0f} ms (p50 {percentile(watched.page_ms, 50):.0f} ms)"
    if unwatched_page_ms is not None:
        unwatched = percentile(unwatched_page_ms, 95)
        bench.results["watch_page_ratio"] = round(page_p95 / unwatched, 2)
        measured += f"; {page_p95 / unwatched:.1f} × the same send unwatched ({unwatched:.0f} ms)"
    bench.row(f"watch_page_p95_ms{suffix}", f"{on}: campaign page while they watch, p95", measured)
    clients = str(watched.web_connections)
    bench.row(f"web_redis_connections{suffix}", f"{on}: Redis clients of the web processes", clients)
    bench.row(
        f"rss_per_watcher_kb{suffix}",
        f"{on}: web memory per stream",
        f"{watched.per_watcher_kb:.0f} kB (web processes {watched.before_mb:.0f} MB before)",
    )
    behind = sum(w.behind for w in watched.watches)
    bench.row(
        f"watch_delivery_p95_ms{suffix}",
        f"{on}: publish → last stream, p95",
        f"{delivery_p95:.0f} ms (p50 {percentile(watched.delivery_ms, 50):.0f} ms, {len(watched.delivery_ms)} "
        f"updates; {behind} fell behind)",
    )


def _final_said(watched: Watched, ended: int) -> str:
    if ended == len(watched.watches):
        return f"all had it when checked, {watched.final_wait_s:.1f} s after completing"
    # What the streams missed: the final version never published, or published and not received.
    final = watched.final_channels
    missed = [w for w in watched.watches if final[w.channel] not in w.received]
    newest = max((max(w.received, default=0) for w in missed), default=0)
    return f"{len(missed)} never got version {max(watched.final.values())} (newest they got: {newest})"
