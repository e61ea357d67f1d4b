"""Opt-outs: addresses a channel never sends to again."""
