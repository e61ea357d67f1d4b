"""The JSON API under /api/v1: its URL rules are in ``routes``, one line each."""
