"""How `make run`, the tests and the benchmark get their servers and processes.

Not part of the web app: a production install carries none of it (its
dependencies are in requirements-local.txt, not requirements.txt).
"""
