"""The HTTP API: flask-smorest blueprints under /api/v1, one error shape."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from segsearch.api import body, errors, path_ids
from segsearch.api.openapi import ErrorResponses


def register_api(app: Flask) -> Api:
    from segsearch.api import analytics, customers, feed, health, membership, metrics, notify, rules, segments

    app.config.update(
        API_TITLE="segsearch", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1", OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]},
    )
    api = Api(app)
    api.spec.plugins.append(ErrorResponses())  # before the blueprints document their paths
    for blp in (health.blp, feed.blp, customers.blp, rules.blp, segments.blp, membership.blp,
                notify.blp, analytics.blp, metrics.blp):
        api.register_blueprint(blp)
    from segsearch.api import tokens
    api.register_blueprint(tokens.blp)
    errors.register(app)
    body.init_app(app, int(app.config["SEGSEARCH"]["MAX_BODY_BYTES"]))
    path_ids.init_app(app)
    return api
