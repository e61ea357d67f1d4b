"""API tokens: what a program shows the JSON API instead of a password."""
