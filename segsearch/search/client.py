"""The one place an Elasticsearch client is built."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from elasticsearch import ApiError, Elasticsearch


def make_client(url: str, *, api_key: str | None = None, username: str | None = None,
                password: str | None = None, ca_certs: str | None = None) -> Elasticsearch:
    """A client for one node or a cluster: `url` may list several nodes, comma-separated.

    The client spreads requests over the listed nodes and retries a request on another
    node when one cannot be reached, so a node failure is not an outage. Credentials: an
    API key, or a user name and password; `ca_certs` verifies a TLS node's certificate.
    """
    hosts = [part.strip() for part in url.split(",") if part.strip()]
    kwargs: dict[str, Any] = {}
    if api_key:
        kwargs["api_key"] = api_key
    elif username:
        kwargs["basic_auth"] = (username, password or "")
    if ca_certs:
        kwargs["ca_certs"] = ca_certs
    # Bulk loads and PIT scans can take longer than the default 10 s request timeout.
    return Elasticsearch(hosts, request_timeout=60, retry_on_timeout=True, max_retries=3, **kwargs)


def client_from_config(config: Mapping[str, Any]) -> Elasticsearch:
    """The client the settings describe (ES_URL, ES_API_KEY or ES_USERNAME/ES_PASSWORD,
    ES_CA_CERTS)."""
    return make_client(config["ES_URL"], api_key=config.get("ES_API_KEY"),
                       username=config.get("ES_USERNAME"), password=config.get("ES_PASSWORD"),
                       ca_certs=config.get("ES_CA_CERTS"))


def msearch(es: Elasticsearch, searches: list[dict]) -> Any:
    """`_msearch`, raising the first failed search as the ApiError a single search would:
    the node answers 200 and reports a failed search inside the response."""
    response = es.msearch(searches=searches)
    for answer in response["responses"]:
        if "error" in answer:
            status = int(answer.get("status", 500))
            raise ApiError(str(answer["error"]), dataclasses.replace(response.meta, status=status), answer)
    return response
