"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
from segsearch import config, create_app, logs

logs.configure(config.from_env()["LOG_FORMAT"])
app = create_app()
