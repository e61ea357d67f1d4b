"""The WSGI entry point: ``gunicorn -k gevent wsgi:app``."""

from gevent import monkey

if monkey.is_module_patched("socket"):
    # Under gunicorn's gevent worker psycopg2 would block the whole worker
    # during a query; this makes its waits cooperative.
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

from dotenv import load_dotenv

from app import config, create_app, logs

# The environment wins; .env (written by make run) fills in what it lacks.
load_dotenv()
# Before the app, whose start may log; gunicorn's own logs join it (gunicorn.conf.py).
logs.configure("web", config.from_environment()["LOG_FORMAT"])
app = create_app({"PROCESS_NAME": "web"})
