"""The WSGI entry point: ``gunicorn -k gevent wsgi:app``."""

from gevent import monkey

if monkey.is_module_patched("socket"):
    # Under gunicorn's gevent worker psycopg2 would block the whole worker
    # during a query; this makes its waits cooperative.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

from dotenv import load_dotenv

from app import create_app

# The environment wins; .env (written by make run) fills in what it lacks.
load_dotenv()
app = create_app({"PROCESS_NAME": "web"})
