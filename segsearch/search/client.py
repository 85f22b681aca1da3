"""The one place an Elasticsearch client is built."""
from __future__ import annotations

from elasticsearch import Elasticsearch


def make_client(url: str) -> Elasticsearch:
    # Bulk loads and PIT scans can take longer than the default 10 s request timeout.
    return Elasticsearch(url, request_timeout=60, retry_on_timeout=True, max_retries=3)
