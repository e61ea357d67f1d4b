"""Campaign Dispatcher: the application factory."""

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import Config
from app.extensions import csrf, db, limiter, migrate, redis


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config())
    if config:
        app.config.update(config)

    from app import audit, cli, errors, health, security, templating  # noqa: F401  (audit: its model)
    from app.auth import access

    security.init_app(app)
    if hops := app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    # Before CSRF: someone signed out is sent to Sign in, not told their token expired.
    access.init_app(app)
    csrf.init_app(app)
    redis.init_app(app)
    # Failed sign-ins are counted in Redis, so every web process sees the same count.
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    limiter.init_app(app)

    from app.auth import bp as auth_bp
    from app.campaigns import bp as campaigns_bp
    from app.live import bp as live_bp
    from app.users import bp as users_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(live_bp)
    app.register_blueprint(users_bp)

    health.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    return app
