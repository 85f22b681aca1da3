"""Services for a job: built from the environment, for the index prefix the job names."""
from __future__ import annotations

from functools import lru_cache

from segsearch import config as settings
from segsearch.extensions import Services, build_services


@lru_cache(maxsize=8)
def services_for(prefix: str) -> Services:
    return build_services({**settings.from_env(), "INDEX_PREFIX": prefix})
