"""Server-sent events: flask-sse's message format and channels, with its gaps closed."""
