"""Extension objects, created unbound; ``create_app`` binds them."""

from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from sqlalchemy.orm import DeclarativeBase


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
