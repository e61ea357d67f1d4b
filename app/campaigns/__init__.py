"""Creating campaigns, reviewing their recipients and dispatching them."""

from flask import Blueprint

bp = Blueprint("campaigns", __name__)

from app.campaigns import views  # noqa: E402,F401  (registers the routes on bp)
