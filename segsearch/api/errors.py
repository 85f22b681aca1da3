"""Every error leaves as {"code", "status", "message", "errors"}: never a stack trace."""
from __future__ import annotations

import logging

from elasticsearch import ApiError, TransportError
from flask import Flask, jsonify
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import BadRequest, HTTPException

from segsearch.errors import ServiceError, body, flatten

log = logging.getLogger(__name__)


def _json(status: int, message: str, errors=None):
    return jsonify(body(status, message, errors)), status


def _http(err: HTTPException):
    data = getattr(err, "data", None) or {}
    messages = data.get("messages")
    if messages is not None:  # webargs: {"json": {...}, "query": {...}}
        errors = {}
        for location, msgs in messages.items():
            prefix = "" if location == "json" else location
            errors.update(flatten(msgs, prefix))
        return _json(422, "Invalid fields: " + ", ".join(sorted(errors)), errors)
    if isinstance(err, BadRequest) and "JSON" in (err.description or ""):
        return _json(422, "The body is not valid JSON.", {"_schema": ["Malformed JSON."]})
    return _json(err.code or 500, data.get("message") or err.description or "")


def _service(err: ServiceError):
    return _json(err.status, err.message, err.errors)


def _search_backend(err: Exception):
    log.error("Elasticsearch error: %s", err)
    return _json(503, "The search backend is unavailable or refused the request.")


def _queue_backend(err: Exception):
    # e.g. a feed write whose real-time mark could not be written: refused before ES.
    log.error("Redis error: %s", err)
    return _json(503, "The queue backend (Redis) is unavailable.")


def _unexpected(err: Exception):
    log.exception("unhandled error")
    return _json(500, "Internal error; it has been logged.")


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(ServiceError, _service)
    app.register_error_handler(TransportError, _search_backend)
    app.register_error_handler(ApiError, _search_backend)
    app.register_error_handler(RedisConnectionError, _queue_backend)
    app.register_error_handler(RedisTimeoutError, _queue_backend)
    app.register_error_handler(Exception, _unexpected)
