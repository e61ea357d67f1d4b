"""Server-sent events: flask-sse's message format and channels, with its gaps closed."""

from flask import Blueprint

bp = Blueprint("live", __name__)

from app.live import views  # noqa: E402,F401  (registers the routes on bp)
