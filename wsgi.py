"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""
from segsearch import create_app

app = create_app()
