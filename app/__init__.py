"""Campaign Dispatcher: the application factory."""

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import cli, config, errors, health, request_ids, scrape, security, templating
from app.api import routes as api
from app.auth import access
from app.auth.views import bp as auth_bp
from app.campaigns.export_views import bp as exports_bp
from app.campaigns.receipt_views import bp as receipts_bp
from app.campaigns.test_send_views import bp as test_sends_bp
from app.campaigns.views import bp as campaigns_bp
from app.contacts.import_views import bp as imports_bp
from app.contacts.views import bp as contacts_bp
from app.dashboard.views import bp as dashboard_bp
from app.extensions import csrf, db, limiter, migrate, redis
from app.hooks import outbox
from app.hooks.views import bp as hooks_bp
from app.live import views as live_views
from app.live.views import bp as live_bp
from app.operations import views as operations_views
from app.operations.views import bp as operations_bp
from app.optouts.views import bp as optouts_bp
from app.optouts.webhooks import bp as webhooks_bp
from app.saved_templates.views import bp as saved_templates_bp
from app.segments.views import bp as segments_bp
from app.tokens.views import bp as tokens_bp
from app.users.views import bp as users_bp


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(config.from_environment())
    if overrides:
        app.config.update(overrides)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = config.engine_options(app.config)

    security.init_app(app)
    # First of the request hooks, so that it times every request.
    scrape.init_app(app)
    if hops := app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    db.init_app(app)
    # A commit that put webhook deliveries in the outbox queues their drain.
    outbox.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    # Before CSRF: someone signed out is sent to Sign in, not told their token expired.
    access.init_app(app)
    # Its first hook runs before access's, so that a refused request has its id too.
    request_ids.init_app(app)
    csrf.init_app(app)
    redis.init_app(app)
    # Failed sign-ins are counted in Redis, so every web process sees the same count.
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    limiter.init_app(app)

    blueprints = (
        auth_bp,
        campaigns_bp,
        contacts_bp,
        dashboard_bp,
        exports_bp,
        hooks_bp,
        imports_bp,
        live_bp,
        operations_bp,
        optouts_bp,
        saved_templates_bp,
        segments_bp,
        test_sends_bp,
        tokens_bp,
        users_bp,
        webhooks_bp,
        receipts_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    api.init_app(app)

    live_views.init_app(app)
    # After the broker it starts its publisher from.
    operations_views.init_app(app)
    health.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    return app
