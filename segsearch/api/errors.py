"""Every error leaves as {"code", "status", "message", "errors"}: never a stack trace.

503 means one thing: Elasticsearch or Redis cannot be reached (the message names which).
Anything else Elasticsearch answers is not the client's outage: a 400 is a value our
validation should have refused (logged as such, answered 422), other statuses keep their
meaning where a client can act on them (409, 429) and are a 500 otherwise.
"""
from __future__ import annotations

import logging

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout as EsConnectionTimeout
from elasticsearch import ApiError, TransportError
from flask import Flask, jsonify
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import BadRequest, HTTPException

from segsearch.errors import ServiceError, body, flatten

log = logging.getLogger(__name__)

ES_DOWN = "Elasticsearch is unreachable; retry later."
REDIS_DOWN = "Redis is unreachable; retry later."
# Statuses a node (or a proxy in front of it) answers when it is not there to answer.
ES_UNAVAILABLE = frozenset({502, 503, 504})
# Headers of werkzeug's own exceptions worth keeping (405 Allow, 413/429 Retry-After).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def _json(status: int, message: str, errors=None, headers=None):
    return jsonify(body(status, message, errors)), status, headers or {}


def http_error(err: HTTPException):
    """A werkzeug HTTP error (routing, abort, webargs) in the one JSON shape."""
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
    headers = {k: v for k, v in err.get_headers() if k in _KEPT_HEADERS}
    return _json(err.code or 500, data.get("message") or err.description or "", None, headers)


def _service(err: ServiceError):
    return _json(err.status, err.message, err.errors)


def _es_unreachable(err: Exception):
    log.error("Elasticsearch unreachable: %s", err)
    return _json(503, ES_DOWN, None, {"Retry-After": "5"})


def _es_api(err: ApiError):
    status = err.meta.status if err.meta is not None else 500
    if status in ES_UNAVAILABLE:
        return _es_unreachable(err)
    if status == 400:
        # A value the index refused: validation should have named it first.
        log.error("validation gap: Elasticsearch refused the request: %s", err)
        return _json(422, "Elasticsearch refused a value of this request.")
    if status == 409:
        return _json(409, "A concurrent change won the race; read again and retry.")
    if status == 429:
        return _json(429, "Elasticsearch is overloaded; retry later.", None, {"Retry-After": "5"})
    log.error("Elasticsearch error %s: %s", status, err)
    return _json(500, "Internal error; it has been logged.")


def _es_transport(err: TransportError):
    if isinstance(err, (EsConnectionError, EsConnectionTimeout)):
        return _es_unreachable(err)
    log.error("Elasticsearch transport error: %s", err)
    return _json(500, "Internal error; it has been logged.")


def _redis_unreachable(err: Exception):
    log.error("Redis unreachable: %s", err)
    return _json(503, REDIS_DOWN, None, {"Retry-After": "5"})


def _unexpected(err: Exception):
    log.exception("unhandled error")
    return _json(500, "Internal error; it has been logged.")


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(ServiceError, _service)
    app.register_error_handler(TransportError, _es_transport)
    app.register_error_handler(ApiError, _es_api)
    app.register_error_handler(RedisConnectionError, _redis_unreachable)
    app.register_error_handler(RedisTimeoutError, _redis_unreachable)
    app.register_error_handler(Exception, _unexpected)
