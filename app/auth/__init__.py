"""Signing in and out, and who may reach which endpoint."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import views  # noqa: E402,F401  (registers the routes on bp)
