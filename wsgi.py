"""The WSGI entry point: ``gunicorn -k gevent wsgi:app``."""
from gevent import monkey

if monkey.is_module_patched("socket"):
    # Under gunicorn's gevent worker psycopg2 would block the whole worker
    # during a query; this makes its waits cooperative.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

from app import create_app  # noqa: E402

app = create_app()
