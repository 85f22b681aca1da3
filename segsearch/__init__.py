"""segsearch: customer segmentation over Elasticsearch."""
from __future__ import annotations

import secrets
from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The application factory: settings from the environment, overridden by `config`."""
    from segsearch import config as settings
    from segsearch import extensions
    from segsearch.api import register_api
    from segsearch.cli import register_cli

    app = Flask(__name__)
    merged = {**settings.from_env(), **(config or {})}
    settings.validate(merged)
    app.config["SEGSEARCH"] = merged
    # Without SEGSEARCH_SECRET_KEY a random key per start: admin sessions then don't
    # survive a restart (everyone logs in again), which is safe but not convenient.
    app.secret_key = merged["SECRET_KEY"] or secrets.token_hex(32)
    services = extensions.init_app(app)
    from segsearch import logs, metrics
    logs.init_app(app)
    metrics.init_app(app, services.redis, services.queue, services.indices.prefix)
    from segsearch.segments import pacing
    pacing.init_app(app, pacing.LiveTraffic(services.redis, services.indices.prefix))
    register_api(app)
    register_cli(app)
    from segsearch.admin import blp as admin_blp
    app.register_blueprint(admin_blp)
    return app
