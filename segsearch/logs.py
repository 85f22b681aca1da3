"""Structured logs: one JSON object per line, with the request id or the RQ job id.

`SEGSEARCH_LOG_FORMAT=text` gives plain lines for a terminal. A request id comes from a
well-formed `X-Request-Id` header (a proxy's) or is made up, and is echoed in the response.
"""
from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ContextFilter(logging.Filter):
    """Adds request_id (web) or job_id (RQ work horse) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id")
        else:
            from rq import get_current_job
            job = get_current_job()
            if job is not None:
                record.job_id = job.id
        return True


def configure(fmt: str = "json", level: int = logging.INFO) -> None:
    """Root logging for a segsearch process (web, worker, scheduler, follower)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"levelname": "level", "asctime": "time"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def init_app(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    @app.after_request
    def _echo(response: Response) -> Response:
        if g.get("request_id"):
            response.headers["X-Request-Id"] = g.request_id
        return response
