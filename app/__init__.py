"""Campaign Dispatcher: the application factory."""
from pathlib import Path
from typing import Any

from flask import Flask

from app.config import Config
from app.extensions import csrf, db, migrate, redis


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_object(Config())
    if config:
        app.config.update(config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    redis.init_app(app)

    from app.campaigns import bp as campaigns_bp
    from app.live import bp as live_bp

    app.register_blueprint(campaigns_bp)
    app.register_blueprint(live_bp)

    from app import cli, errors, templating

    templating.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    return app
