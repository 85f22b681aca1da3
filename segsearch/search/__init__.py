"""Elasticsearch: client factory, index templates and aliases, index names."""
