"""The admin UI: server-rendered pages over the same service layer as the API.

Mounted at /admin. Logins use the API's bearer tokens; the principal (name, role) lives in
Flask's signed session cookie, and every POST carries a per-session CSRF token.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

blp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
                static_folder="static", static_url_path="/static")

# An admin session ends after this long even if the browser stays open.
SESSION_LIFETIME = timedelta(hours=12)


@blp.record_once
def _session_settings(state: BlueprintSetupState) -> None:
    """Cookie settings for the admin session, unless the app chose its own."""
    config = state.app.config
    config["SESSION_COOKIE_HTTPONLY"] = True
    # Lax: the cookie is not sent on cross-site POSTs (a second line behind the CSRF token).
    if not config.get("SESSION_COOKIE_SAMESITE"):
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Only the admin uses the session; the API never sees the cookie.
    if not config.get("SESSION_COOKIE_PATH"):
        config["SESSION_COOKIE_PATH"] = "/admin"
    config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME


from segsearch.admin import analytics, bell, customers, editor_values, segment_list, views  # noqa: E402,F401  (registers the routes on blp)
