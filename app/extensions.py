"""Extension objects, created unbound; ``create_app`` binds them."""

import time
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection


class Base(DeclarativeBase):
    pass


class RedisClient:
    """One Redis client (and so one connection pool) per app, shared by every
    publisher, queue and request in the process. Streams do not use it: they
    share one subscription of their own (``app.live.broker``). Named, so
    ``CLIENT LIST`` says which process holds which connection."""

    def init_app(self, app: Flask) -> None:
        app.extensions["redis"] = Redis.from_url(
            app.config["REDIS_URL"], client_name=f"dispatcher-{app.config['PROCESS_NAME']}"
        )

    @property
    def client(self) -> Redis:
        return current_app.extensions["redis"]


# A pooled connection idle this long is checked before use.
IDLE_BEFORE_CHECK_SECONDS = 1.0


def check_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use, as ``pool_pre_ping`` does, but
    only when it has sat idle IDLE_BEFORE_CHECK_SECONDS: one PostgreSQL
    restarted while the pool slept is what the check is for.

    A send job's loop commits a transaction per campaign per turn, each a
    checkout of the connection it returned milliseconds before; checking
    every one cost a round trip (SELECT 1) beside the turn's BEGIN, lock,
    store, claim and COMMIT. A
    connection lost in between fails its statement instead, which the loop
    already retries (``jobs.send.through_outages``), and the pool then
    replaces every connection it holds; another job fails as it would have
    had PostgreSQL gone away mid-statement.

    Workers only (CHECK_CONNECTIONS_WHEN_IDLE): a web request checks out
    once, and is better answered than failed after a restart."""

    @event.listens_for(engine, "checkin")
    def checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_CHECK_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and checks out another.
            raise DisconnectionError(str(error)) from error


db = SQLAlchemy(model_class=Base)
# Models subclass db.Model. mypy cannot follow a base class made at run time
# (python/mypy#8603), so it checks them against Base, which db.Model is made from.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
csrf = CSRFProtect()
redis = RedisClient()
login_manager = LoginManager()
# No default limits: only the routes that name a limit are throttled.
limiter = Limiter(key_func=get_remote_address)
