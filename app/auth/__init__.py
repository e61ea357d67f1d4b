"""Signing in and out, and who may reach which endpoint."""
