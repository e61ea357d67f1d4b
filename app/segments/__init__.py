"""Segments: named sets of contact filters, which campaigns are sent to."""
