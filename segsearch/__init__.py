"""segsearch: customer segmentation over Elasticsearch."""
from __future__ import annotations

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
    extensions.init_app(app)
    register_api(app)
    register_cli(app)
    return app
