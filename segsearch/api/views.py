"""How stored documents are shown through the API."""
from __future__ import annotations

from segsearch.segments.roster import customer_out  # noqa: F401  (the API's name for it)
