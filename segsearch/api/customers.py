"""Customer reads beyond the feed (lists, members of a segment)."""
from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("customers", __name__, url_prefix="/api/v1", description="Customers")
